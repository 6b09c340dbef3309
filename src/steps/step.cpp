#include "steps/step.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "common/text.hpp"

namespace aimass::steps {

using nlohmann::json;

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Status ErrorOf(const http::ClientResponse& r) {
  json j = json::parse(r.body, nullptr, false);
  std::string message = "HTTP " + std::to_string(r.status);
  std::string code;
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    message = j["error"].value("message", message);
    code = j["error"].value("code", "");
  }
  if (r.status == 404) return Status::NotFound(message);
  if (r.status == 409) return Status::Conflict(message);
  if (r.status == 403) return Status::Forbidden(message);
  if (r.status == 400) return Status::BadRequest(message);
  return Status::Internal(message + (code.empty() ? "" : " (" + code + ")"));
}

}  // namespace

Result<StepContext> StepContext::FromEnvironment() {
  StepContext c;
  c.server_ = Env("AIMASS_SERVER");
  c.token_ = Env("AIMASS_TOKEN");
  if (c.server_.empty() || c.token_.empty()) {
    return Status::BadRequest("a built-in step runs inside a pipeline's job: AIMASS_SERVER and AIMASS_TOKEN are not set");
  }
  std::string inputs = Env("AIMASS_INPUTS");
  if (!inputs.empty()) {
    c.inputs_ = json::parse(inputs, nullptr, false);
    if (!c.inputs_.is_object()) return Status::BadRequest("AIMASS_INPUTS is not a JSON object");
  }
  c.pipeline_ = Env("AIMASS_PIPELINE");
  c.run_ = Env("AIMASS_PIPELINE_RUN");
  c.step_ = Env("AIMASS_STEP");
  return c;
}

Result<http::ClientResponse> StepContext::Send(http::Method m, const std::string& path, std::string body,
                                               std::vector<std::pair<std::string, std::string>> headers) {
  http::ClientRequest req;
  req.method = m;
  req.url = server_ + path;
  req.headers = std::move(headers);
  req.headers.emplace_back("Authorization", "Bearer " + token_);
  req.body = std::move(body);
  req.timeout = std::chrono::minutes(30);
  return client_->Send(req);
}

Result<json> StepContext::Call(http::Method m, const std::string& path, const json* body) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (body) headers.emplace_back("Content-Type", "application/json");
  AIMASS_ASSIGN_OR_RETURN(http::ClientResponse r, Send(m, path, body ? body->dump() : "", std::move(headers)));
  if (r.status >= 300) return ErrorOf(r);
  if (r.body.empty()) return json(nullptr);
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return Status::Internal("the platform answered " + path + " with something that is not JSON");
  return j;
}

void StepContext::Output(const std::string& name, const json& value) {
  std::cout << "::aimass-output " << name << "=" << value.dump() << "\n" << std::flush;
}

Result<StepContext::Table> StepContext::DownloadTable(const std::string& dataset, const std::string& version) {
  const std::string base = "/api/v1/datasets/" + PercentEncode(dataset);
  Table t;
  AIMASS_ASSIGN_OR_RETURN(t.version, Call(http::Method::kGet, base + "/versions/" + PercentEncode(version)));
  AIMASS_ASSIGN_OR_RETURN(http::ClientResponse r,
                          Send(http::Method::kGet, base + "/versions/" + std::to_string(t.version["version"].get<int64_t>()) +
                                                       "/download?format=csv",
                               "", {}));
  if (r.status != 200) return ErrorOf(r);
  t.csv = std::move(r.body);
  return t;
}

Result<int64_t> StepContext::StartTrackingRun(const std::string& experiment, const json& params) {
  json body = {{"experiment", experiment},
               {"name", step_ + (run_.empty() ? "" : "-run" + run_)},
               {"params", params},
               {"tags", {{"pipeline", pipeline_}, {"pipeline_run", run_}, {"step", step_}}}};
  auto made = Call(http::Method::kPost, "/api/v1/runs", &body);
  if (!made.ok() && made.status().code() == Code::kNotFound) {
    json e = {{"name", experiment}, {"description", "runs of pipeline " + pipeline_}};
    auto created = Call(http::Method::kPost, "/api/v1/experiments", &e);
    if (!created.ok() && created.status().code() != Code::kConflict) return created.status();
    made = Call(http::Method::kPost, "/api/v1/runs", &body);
  }
  if (!made.ok()) return made.status();
  const int64_t id = (*made)["id"].get<int64_t>();
  AIMASS_ASSIGN_OR_RETURN(double interval, InputNumber(inputs_, "system_metrics_interval_s", 10));
  if (interval > 0) {
    http::Client* client = client_.get();
    std::string url = server_ + "/api/v1/runs/" + std::to_string(id) + "/log", token = token_;
    sampler_ = std::make_unique<SystemSampler>(
        [client, url, token](const json& batch) {
          http::ClientRequest req;
          req.method = http::Method::kPost;
          req.url = url;
          req.headers = {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
          req.body = batch.dump();
          req.timeout = std::chrono::seconds(30);
          (void)client->Send(req);
        },
        std::chrono::milliseconds(static_cast<int64_t>(interval * 1000)));
  }
  return id;
}

Status StepContext::FinishTrackingRun(int64_t run) {
  sampler_.reset();
  json done = {{"status", "succeeded"}};
  return Call(http::Method::kPatch, "/api/v1/runs/" + std::to_string(run), &done).status();
}

Status StepContext::PutArtifact(int64_t run, const std::string& path, std::string bytes, const std::string& content_type) {
  AIMASS_ASSIGN_OR_RETURN(http::ClientResponse r,
                          Send(http::Method::kPut, "/api/v1/runs/" + std::to_string(run) + "/artifacts/" + PercentEncode(path, true),
                               std::move(bytes), {{"Content-Type", content_type}}));
  if (r.status != 201) return Status::Internal("storing " + path + ": HTTP " + std::to_string(r.status));
  return Status::Ok();
}

std::string StepContext::ScratchDeployment(const std::string& prefix, int64_t version) const {
  std::string name = prefix + "-" + run_ + "-" + std::to_string(version);
  for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '-';
  return name;
}

Status StepContext::LogToRun(int64_t run, const json& batch) {
  return Call(http::Method::kPost, "/api/v1/runs/" + std::to_string(run) + "/log", &batch).status();
}

Result<std::pair<std::string, int64_t>> StepContext::InputModel() {
  auto it = inputs_.find("model");
  if (it != inputs_.end() && it->is_object() && it->contains("best_for")) {
    const json& m = *it;
    if (!m["best_for"].is_string() || !m.contains("metric") || !m["metric"].is_string()) {
      return Status::BadRequest("with.model {\"best_for\": task, \"metric\": key} names a task and a metric");
    }
    std::string goal = m.value("goal", "max");
    if (goal != "max" && goal != "min") return Status::BadRequest("with.model.goal is max or min");
    AIMASS_ASSIGN_OR_RETURN(json ranked, Call(http::Method::kGet, "/api/v1/models?page_size=1&task=" +
                                                                      PercentEncode(m["best_for"].get<std::string>()) +
                                                                      "&order_by=" +
                                                                      PercentEncode("metrics." + m["metric"].get<std::string>() +
                                                                                  (goal == "max" ? " desc" : " asc"))));
    if (ranked["models"].empty()) {
      return Status::NotFound("no registered model for task '" + m["best_for"].get<std::string>() + "' has the metric '" +
                              m["metric"].get<std::string>() + "'");
    }
    const json& best = ranked["models"][0];
    return std::make_pair(best["name"].get<std::string>(), best["best"]["version"].get<int64_t>());
  }
  std::string name = InputString(inputs_, "model", "");
  AIMASS_ASSIGN_OR_RETURN(double version, InputNumber(inputs_, "version", 0));
  return std::make_pair(name, static_cast<int64_t>(version));
}

Result<std::pair<std::string, std::string>> InputDataset(const json& in, const char* key) {
  auto it = in.find(key);
  if (it != in.end() && it->is_object() && it->contains("dataset") && (*it)["dataset"].is_string()) {
    const json& v = it->value("version", json("latest"));
    return std::make_pair((*it)["dataset"].get<std::string>(), v.is_string() ? v.get<std::string>() : v.dump());
  }
  if (it != in.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
    const std::string& s = it->get_ref<const std::string&>();
    size_t at = s.find('@');
    if (at == std::string::npos) return std::make_pair(s, std::string("latest"));
    return std::make_pair(s.substr(0, at), s.substr(at + 1));
  }
  return Status::BadRequest(std::string("with.") + key + " names a dataset: {\"dataset\", \"version\"} or \"name[@version]\"");
}

Result<std::string> InputString(const json& in, const char* key) {
  auto it = in.find(key);
  if (it == in.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    return Status::BadRequest(std::string("with.") + key + " is required (text)");
  }
  return it->get<std::string>();
}

std::string InputString(const json& in, const char* key, const std::string& fallback) {
  auto it = in.find(key);
  if (it == in.end() || it->is_null()) return fallback;
  return it->is_string() ? it->get<std::string>() : it->dump();
}

Result<std::vector<std::string>> InputStrings(const json& in, const char* key) {
  std::vector<std::string> out;
  auto it = in.find(key);
  if (it == in.end() || it->is_null()) return out;
  if (!it->is_array()) return Status::BadRequest(std::string("with.") + key + " is a list of names");
  for (const auto& v : *it) {
    if (!v.is_string()) return Status::BadRequest(std::string("with.") + key + " is a list of names");
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<int64_t> InputCount(const json& in, const char* key, int64_t fallback, int64_t lo, int64_t hi) {
  AIMASS_ASSIGN_OR_RETURN(double v, InputNumber(in, key, static_cast<double>(fallback)));
  if (v != std::floor(v) || v < static_cast<double>(lo) || v > static_cast<double>(hi)) {
    return Status::BadRequest(std::string("with.") + key + " is a whole number from " + std::to_string(lo) + " to " +
                              std::to_string(hi));
  }
  return static_cast<int64_t>(v);
}

int JobThreads() {
  const char* omp = std::getenv("OMP_NUM_THREADS");
  int n = omp ? std::atoi(omp) : 0;
  return n > 0 ? n : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

Result<double> InputNumber(const json& in, const char* key, double fallback) {
  auto it = in.find(key);
  if (it == in.end() || it->is_null()) return fallback;
  if (it->is_number()) return it->get<double>();
  if (it->is_string()) {
    char* end = nullptr;
    double d = std::strtod(it->get_ref<const std::string&>().c_str(), &end);
    if (end && *end == '\0' && !it->get_ref<const std::string&>().empty()) return d;
  }
  return Status::BadRequest(std::string("with.") + key + " is a number");
}


}  // namespace aimass::steps
