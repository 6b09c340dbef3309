#include "serving/grpc_service.hpp"

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include "common/grpc.hpp"
#include "grpc_service.grpc.pb.h"

namespace aimass::serving {

namespace {

Result<std::optional<int64_t>> ParseVersion(const std::string& v) {
  if (v.empty()) return std::optional<int64_t>();
  try {
    size_t used = 0;
    long long n = std::stoll(v, &used);
    if (used == v.size() && n > 0) return std::optional<int64_t>(n);
  } catch (const std::exception&) {
  }
  return Status::BadRequest("model version must be a positive integer");
}

template <typename T>
void Append(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// Typed contents → the tensor's raw bytes, checking that each value fits the datatype.
template <typename Dst, typename Field>
Status Narrow(const Field& values, Tensor& t) {
  t.data.reserve(static_cast<size_t>(values.size()) * sizeof(Dst));
  for (auto v : values) {
    if constexpr (std::is_integral_v<Dst> && !std::is_same_v<std::decay_t<decltype(v)>, bool>) {
      if (!std::in_range<Dst>(v)) {
        return Status::BadRequest("input '" + t.name + "': a value is out of range for " +
                                  std::string(DataTypeName(t.dtype)));
      }
    }
    Append(t.data, static_cast<Dst>(v));
  }
  return Status::Ok();
}

Status FromContents(const inference::InferTensorContents& c, Tensor& t) {
  switch (t.dtype) {
    case DataType::kBool: return Narrow<uint8_t>(c.bool_contents(), t);
    case DataType::kInt8: return Narrow<int8_t>(c.int_contents(), t);
    case DataType::kInt16: return Narrow<int16_t>(c.int_contents(), t);
    case DataType::kInt32: return Narrow<int32_t>(c.int_contents(), t);
    case DataType::kInt64: return Narrow<int64_t>(c.int64_contents(), t);
    case DataType::kUint8: return Narrow<uint8_t>(c.uint_contents(), t);
    case DataType::kUint16: return Narrow<uint16_t>(c.uint_contents(), t);
    case DataType::kUint32: return Narrow<uint32_t>(c.uint_contents(), t);
    case DataType::kUint64: return Narrow<uint64_t>(c.uint64_contents(), t);
    case DataType::kFp32: return Narrow<float>(c.fp32_contents(), t);
    case DataType::kFp64: return Narrow<double>(c.fp64_contents(), t);
    case DataType::kBytes:
      for (const auto& b : c.bytes_contents()) {
        Append(t.data, static_cast<uint32_t>(b.size()));
        t.data += b;
      }
      return Status::Ok();
    case DataType::kFp16:
      return Status::BadRequest("input '" + t.name + "': FP16 travels in raw_input_contents");
  }
  return Status::Ok();
}

Result<std::vector<Tensor>> Inputs(const inference::ModelInferRequest& req) {
  if (req.inputs_size() > 64) return Status::BadRequest("at most 64 inputs");
  bool raw = req.raw_input_contents_size() > 0;
  if (raw && req.raw_input_contents_size() != req.inputs_size()) {
    return Status::BadRequest("raw_input_contents must hold one entry per input");
  }
  std::vector<Tensor> out;
  for (int i = 0; i < req.inputs_size(); ++i) {
    const auto& in = req.inputs(i);
    Tensor t;
    t.name = in.name();
    for (const auto& o : out) {
      if (o.name == t.name) return Status::BadRequest("input '" + t.name + "' is given twice");
    }
    auto dtype = ParseDataType(in.datatype());
    if (!dtype) return Status::BadRequest("input '" + t.name + "': unknown datatype '" + in.datatype().substr(0, 16) + "'");
    t.dtype = *dtype;
    if (in.shape_size() > 8) return Status::BadRequest("input '" + t.name + "': at most 8 dimensions");
    t.shape.assign(in.shape().begin(), in.shape().end());
    if (raw) {
      t.data = req.raw_input_contents(i);
    } else {
      AIMASS_RETURN_IF_ERROR(FromContents(in.contents(), t));
    }
    AIMASS_RETURN_IF_ERROR(t.CheckSize());
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

// ModelInfer is a callback method: the call waits for its batch without holding a thread (the
// synchronous API parks one gRPC thread per call in flight, 64 of them under a 64-call load).
// The other methods answer at once and stay synchronous.
class InferenceService final
    : public inference::GRPCInferenceService::WithCallbackMethod_ModelInfer<inference::GRPCInferenceService::Service> {
 public:
  InferenceService(Serving& serving, auth::AuthService& auth) : serving_(serving), auth_(auth) {}

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* res) override {
    res->set_live(true);
    return grpc::Status::OK;
  }

  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* res) override {
    res->set_ready(serving_.AllReady());
    return grpc::Status::OK;
  }

  grpc::Status ServerMetadata(grpc::ServerContext* ctx, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* res) override {
    auto who = Who(ctx);
    if (!who.ok()) return ToGrpc(who.status());
    res->set_name("aimass");
    res->set_version("0.1.0");
    for (const char* e : {"binary_tensor_data", "model_repository", "statistics"}) res->add_extensions(e);
    return grpc::Status::OK;
  }

  grpc::Status ModelReady(grpc::ServerContext* ctx, const inference::ModelReadyRequest* req,
                          inference::ModelReadyResponse* res) override {
    auto version = Invoker(ctx, req->name(), req->version());
    if (!version.ok()) return ToGrpc(version.status());
    res->set_ready(serving_.Ready(req->name(), *version).ok());
    return grpc::Status::OK;
  }

  grpc::Status ModelMetadata(grpc::ServerContext* ctx, const inference::ModelMetadataRequest* req,
                             inference::ModelMetadataResponse* res) override {
    auto version = Invoker(ctx, req->name(), req->version());
    if (!version.ok()) return ToGrpc(version.status());
    auto m = serving_.Metadata(req->name(), *version);
    if (!m.ok()) return ToGrpc(m.status());
    res->set_name(m->name);
    for (int64_t v : m->versions) res->add_versions(std::to_string(v));
    res->set_platform(m->platform);
    for (auto [specs, add] : {std::pair{&m->signature.inputs, &inference::ModelMetadataResponse::add_inputs},
                              std::pair{&m->signature.outputs, &inference::ModelMetadataResponse::add_outputs}}) {
      for (const auto& s : *specs) {
        auto* t = (res->*add)();
        t->set_name(s.name);
        t->set_datatype(s.datatype);
        for (int64_t d : s.shape) t->add_shape(d);
      }
    }
    return grpc::Status::OK;
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx, const inference::ModelInferRequest* req,
                                       inference::ModelInferResponse* res) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    Status st = StartInfer(ctx, req, res, reactor);
    if (!st.ok()) reactor->Finish(ToGrpc(st));
    return reactor;
  }

  grpc::Status ModelStatistics(grpc::ServerContext* ctx, const inference::ModelStatisticsRequest* req,
                               inference::ModelStatisticsResponse* res) override {
    auto who = Who(ctx);
    if (!who.ok()) return ToGrpc(who.status());
    std::optional<std::string> name;
    if (!req->name().empty()) {
      if (!Serving::MayInvoke(**who, req->name())) return ToGrpc(Forbidden(req->name()));
      name = req->name();
    }
    auto version = ParseVersion(req->version());
    if (!version.ok()) return ToGrpc(version.status());
    auto stats = serving_.Stats(name, *version);
    if (!stats.ok()) return ToGrpc(stats.status());
    for (const auto& v : *stats) {
      if (!Serving::MayInvoke(**who, v.name)) continue;
      auto* m = res->add_model_stats();
      m->set_name(v.name);
      m->set_version(std::to_string(v.version));
      m->set_last_inference(static_cast<uint64_t>(v.stats.last_inference_ms));
      m->set_inference_count(v.stats.inference_count);
      m->set_execution_count(v.stats.execution_count);
      auto set = [](inference::StatisticDuration* d, const Duration& s) {
        d->set_count(s.count);
        d->set_ns(s.ns);
      };
      auto* is = m->mutable_inference_stats();
      set(is->mutable_success(), v.stats.success);
      set(is->mutable_fail(), v.stats.fail);
      set(is->mutable_queue(), v.stats.queue);
      set(is->mutable_compute_input(), v.stats.compute_input);
      set(is->mutable_compute_infer(), v.stats.compute_infer);
      set(is->mutable_compute_output(), v.stats.compute_output);
      for (const auto& [size, d] : v.stats.batches) {
        auto* b = m->add_batch_stats();
        b->set_batch_size(static_cast<uint64_t>(size));
        set(b->mutable_compute_infer(), d);
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status RepositoryIndex(grpc::ServerContext* ctx, const inference::RepositoryIndexRequest* req,
                               inference::RepositoryIndexResponse* res) override {
    auto who = Permitted(ctx, "deployments:read");
    if (!who.ok()) return ToGrpc(who.status());
    for (const auto& v : serving_.List()) {
      if (req->ready() && v.state != "ready") continue;
      auto* m = res->add_models();
      m->set_name(v.spec.name);
      if (!v.serving.empty()) m->set_version(std::to_string(v.serving[0].version));
      m->set_state(v.state == "ready" ? "READY" : v.state == "loading" ? "LOADING" : "UNAVAILABLE");
      m->set_reason(v.reason);
    }
    return grpc::Status::OK;
  }

  grpc::Status RepositoryModelLoad(grpc::ServerContext* ctx, const inference::RepositoryModelLoadRequest* req,
                                   inference::RepositoryModelLoadResponse*) override {
    auto who = Permitted(ctx, "deployments:write");
    if (!who.ok()) return ToGrpc(who.status());
    return ToGrpc(serving_.Load(req->model_name()));
  }

  grpc::Status RepositoryModelUnload(grpc::ServerContext* ctx, const inference::RepositoryModelUnloadRequest* req,
                                     inference::RepositoryModelUnloadResponse*) override {
    auto who = Permitted(ctx, "deployments:write");
    if (!who.ok()) return ToGrpc(who.status());
    return ToGrpc(serving_.Unload(req->model_name()));
  }

 private:
  static Status Forbidden(const std::string& name) {
    return Status::Forbidden("inference:invoke on deployment '" + name.substr(0, 128) + "' is required");
  }

  using Caller = std::shared_ptr<const Principal>;
  Result<Caller> Who(grpc::ServerContextBase* ctx) { return GrpcCaller(ctx, auth_); }

  // A queued call's timer: at the deployment's deadline it gives up the job if no executor has
  // taken it (the runner then answers DEADLINE_EXCEEDED at once, as REST's deferred answer
  // does). Owned by the job's answer callback: when the answered job is dropped, the timer goes
  // with it and destroying the alarm cancels it. Nothing else touches the alarm, so no lock is
  // needed (grpc::Alarm is not thread-safe); the alarm's own callback holds it weakly.
  struct CallTimer {
    grpc::Alarm alarm;
    std::function<void()> give_up;
  };

  // Queues the inference; its answer finishes the call from the thread that produced it (the
  // runner answers every job it queued: computed, failed, given up, or unloaded). An error
  // here means nothing was queued.
  Status StartInfer(grpc::ServerContextBase* ctx, const inference::ModelInferRequest* req,
                    inference::ModelInferResponse* res, grpc::ServerUnaryReactor* reactor) {
    AIMASS_ASSIGN_OR_RETURN(std::optional<int64_t> version, Invoker(ctx, req->model_name(), req->model_version()));
    AIMASS_ASSIGN_OR_RETURN(std::vector<Tensor> inputs, Inputs(*req));
    auto timer = std::make_shared<CallTimer>();
    auto done = [req, res, reactor, timer](Result<InferResult> result) {
      Status st = result.ok() ? Encode(*req, *result, res) : result.status();
      reactor->Finish(st.ok() ? grpc::Status::OK : ToGrpc(st));
    };
    AIMASS_ASSIGN_OR_RETURN(PendingInfer pending,
                            serving_.InferAsync(req->model_name(), version, std::move(inputs), std::move(done)));
    // Set even when an executor answered already: `timer` is held here until this returns, and
    // giving up an answered job does nothing. grpc::Alarm takes a system_clock deadline; its
    // callback runs once, when the deadline passes or the alarm is destroyed.
    timer->give_up = std::move(pending.cancel);
    auto deadline = std::chrono::system_clock::now() + (pending.deadline - std::chrono::steady_clock::now());
    timer->alarm.Set(deadline, [weak = std::weak_ptr<CallTimer>(timer)](bool fired) {
      if (auto t = weak.lock(); t && fired) t->give_up();
    });
    return Status::Ok();
  }

  // Outputs as raw bytes (what Triton sends), in the order asked for, or all of them.
  static Status Encode(const inference::ModelInferRequest& req, const InferResult& result,
                       inference::ModelInferResponse* res) {
    std::vector<const Tensor*> chosen;
    if (req.outputs_size() == 0) {
      for (const auto& t : result.outputs) chosen.push_back(&t);
    } else {
      for (const auto& want : req.outputs()) {
        const Tensor* found = nullptr;
        for (const auto& t : result.outputs) {
          if (t.name == want.name()) found = &t;
        }
        if (!found) return Status::BadRequest("unknown output '" + want.name().substr(0, 128) + "'");
        chosen.push_back(found);
      }
    }
    res->set_model_name(req.model_name());
    res->set_model_version(std::to_string(result.version));
    res->set_id(req.id());
    for (const Tensor* t : chosen) {
      auto* o = res->add_outputs();
      o->set_name(t->name);
      o->set_datatype(std::string(DataTypeName(t->dtype)));
      for (int64_t d : t->shape) o->add_shape(d);
      res->add_raw_output_contents(t->data);
    }
    return Status::Ok();
  }

  Result<Caller> Permitted(grpc::ServerContextBase* ctx, const char* permission) {
    AIMASS_ASSIGN_OR_RETURN(Caller who, Who(ctx));
    if (!auth::Allows(who->permissions, permission)) {
      return Status::Forbidden(std::string("permission ") + permission + " is required");
    }
    return who;
  }

  // Authenticates, checks inference:invoke on the deployment and parses the version.
  Result<std::optional<int64_t>> Invoker(grpc::ServerContextBase* ctx, const std::string& name, const std::string& version) {
    AIMASS_ASSIGN_OR_RETURN(Caller who, Who(ctx));
    if (!Serving::MayInvoke(*who, name)) return Forbidden(name);
    return ParseVersion(version);
  }

  Serving& serving_;
  auth::AuthService& auth_;
};

GrpcService::GrpcService(Serving& serving, auth::AuthService& auth)
    : service_(std::make_unique<InferenceService>(serving, auth)) {}

GrpcService::~GrpcService() = default;

grpc::Service* GrpcService::service() { return service_.get(); }

}  // namespace aimass::serving
