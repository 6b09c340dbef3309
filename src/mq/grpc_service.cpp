#include "mq/grpc_service.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "common/grpc.hpp"
#include "auth/rbac.hpp"
#include "mq.grpc.pb.h"

namespace aimass::mq {

namespace pb = ::aimass::mq::v1;

namespace {

class Service final : public pb::MessageQueue::Service {
 public:
  Service(Broker& broker, auth::AuthService& auth) : broker_(broker), auth_(auth) {}

  // Pipelined: this thread reads each batch and writes it to the log in order; a second thread
  // waits for each batch's fsync and answers, in order. So a producer's next batch is written
  // while the previous one waits, and under `always` one fdatasync covers both.
  grpc::Status Publish(grpc::ServerContext* ctx, grpc::ServerReaderWriter<pb::PublishReply, pb::PublishRequest>* stream) override {
    auto who = GrpcCaller(ctx, auth_);
    if (!who.ok()) return ToGrpc(who.status());
    struct InFlight {
      uint64_t seq = 0;
      Status status;
      PendingPublish pending;
    };
    constexpr size_t kMaxInFlight = 64;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<InFlight> queue;
    bool reading_done = false, writer_failed = false;

    std::thread answerer([&] {
      while (true) {
        InFlight f;
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return !queue.empty() || reading_done; });
          if (queue.empty()) return;
          f = std::move(queue.front());
          queue.pop_front();
        }
        cv.notify_all();
        pb::PublishReply reply;
        reply.set_seq(f.seq);
        Status st = f.status;
        std::vector<PublishResult> results;
        if (st.ok()) {
          auto got = f.pending.wait();
          if (got.ok()) results = std::move(*got);
          else st = got.status();
        }
        if (st.ok()) {
          for (const auto& r : results) {
            auto* pr = reply.add_results();
            pr->set_partition(r.partition);
            pr->set_offset(r.offset);
            pr->set_duplicate(r.duplicate);
          }
        } else {
          reply.set_error_code(std::string(CodeName(st.code())));
          reply.set_error_message(st.message());
        }
        if (!stream->Write(reply)) {
          std::lock_guard lock(mu);
          writer_failed = true;
          // Whatever is still queued was written to the log; its durability is waited for
          // below, so that nothing stays half-done when the stream ends.
        }
      }
    });

    pb::PublishRequest req;
    std::string allowed;  // the last topic checked
    while (stream->Read(&req)) {
      InFlight f;
      f.seq = req.seq();
      if (req.topic() != allowed) {
        f.status = auth::MayActOnTopic(**who, req.topic(), "publish");
        if (f.status.ok()) allowed = req.topic();
      }
      if (f.status.ok()) {
        std::vector<OutgoingMessage> out;
        out.reserve(static_cast<size_t>(req.messages_size()));
        for (auto& m : *req.mutable_messages()) {
          OutgoingMessage o;
          o.key = std::move(*m.mutable_key());
          o.body = std::move(*m.mutable_body());
          o.delay_ms = m.delay_ms();
          o.ttl_ms = m.ttl_ms();
          o.dedup_id = std::move(*m.mutable_dedup_id());
          for (auto& h : *m.mutable_headers()) o.headers.emplace_back(std::move(*h.mutable_name()), std::move(*h.mutable_value()));
          out.push_back(std::move(o));
        }
        if (out.empty()) {
          f.status = Status::BadRequest("messages must not be empty");
        } else {
          auto started = broker_.StartPublish(req.topic(), std::move(out));
          if (started.ok()) f.pending = std::move(*started);
          else f.status = started.status();
        }
      }
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return queue.size() < kMaxInFlight || writer_failed; });
      queue.push_back(std::move(f));
      bool failed = writer_failed;
      lock.unlock();
      cv.notify_all();
      if (failed) break;
    }
    {
      std::lock_guard lock(mu);
      reading_done = true;
    }
    cv.notify_all();
    answerer.join();
    return grpc::Status::OK;
  }

  grpc::Status Consume(grpc::ServerContext* ctx, grpc::ServerReaderWriter<pb::ConsumeReply, pb::ConsumeRequest>* stream) override {
    auto who = GrpcCaller(ctx, auth_);
    if (!who.ok()) return ToGrpc(who.status());
    pb::ConsumeRequest first;
    if (!stream->Read(&first)) return grpc::Status::OK;
    const std::string sub = first.subscription();
    auto info = broker_.GetSubscription(sub);
    if (!info.ok()) return ToGrpc(info.status());
    if (Status st = auth::MayActOnTopic(**who, info->spec.topic, "consume"); !st.ok()) return ToGrpc(st);

    std::mutex mu;
    std::condition_variable cv;
    uint64_t credits = 0;
    bool closed = false;
    auto apply = [&](const pb::ConsumeRequest& r) {
      if (r.ack_ids_size() > 0) (void)broker_.Ack(sub, {r.ack_ids().begin(), r.ack_ids().end()});
      if (r.nack_ids_size() > 0) {
        (void)broker_.Nack(sub, {r.nack_ids().begin(), r.nack_ids().end()}, std::chrono::milliseconds(std::max<int64_t>(0, r.nack_delay_ms())));
      }
      std::lock_guard lock(mu);
      credits += r.credits();
      cv.notify_all();
    };
    apply(first);
    // Acks and credits arrive on their own thread while this one sends.
    std::thread reader([&] {
      pb::ConsumeRequest r;
      while (stream->Read(&r)) apply(r);
      std::lock_guard lock(mu);
      closed = true;
      cv.notify_all();
    });
    grpc::Status result = grpc::Status::OK;
    while (!ctx->IsCancelled()) {
      uint64_t can = 0;
      {
        std::unique_lock lock(mu);
        cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return credits > 0 || closed; });
        if (closed) break;
        can = std::min<uint64_t>(credits, 1000);
      }
      if (can == 0) continue;
      auto got = broker_.Fetch(sub, can, std::chrono::milliseconds(100));
      if (!got.ok()) {
        result = ToGrpc(got.status());
        break;
      }
      if (got->empty()) continue;
      {
        std::lock_guard lock(mu);
        credits -= std::min<uint64_t>(credits, got->size());
      }
      pb::ConsumeReply reply;
      for (auto& d : *got) {
        auto* m = reply.add_messages();
        m->set_id(std::move(d.id));
        m->set_topic(std::move(d.message.topic));
        m->set_partition(d.message.partition);
        m->set_offset(d.message.offset);
        m->set_key(std::move(d.message.key));
        m->set_body(std::move(d.message.body));
        m->set_timestamp_ms(d.message.timestamp_ms);
        m->set_deliveries(d.deliveries);
        for (auto& [n, v] : d.message.headers) {
          auto* h = m->add_headers();
          h->set_name(std::move(n));
          h->set_value(std::move(v));
        }
      }
      if (!stream->Write(reply)) break;
    }
    bool client_closed;
    {
      std::lock_guard lock(mu);
      client_closed = closed;
    }
    if (!client_closed) ctx->TryCancel();  // ends the reader's Read
    reader.join();
    return result;
  }

 private:
  Broker& broker_;
  auth::AuthService& auth_;
};

}  // namespace

struct GrpcService::Impl {
  Impl(Broker& broker, auth::AuthService& auth) : service(broker, auth) {}
  Service service;
};

GrpcService::GrpcService(Broker& broker, auth::AuthService& auth) : impl_(std::make_unique<Impl>(broker, auth)) {}
GrpcService::~GrpcService() = default;
grpc::Service* GrpcService::service() { return &impl_->service; }

}  // namespace aimass::mq
