#include "assist/assist.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "assist/analytics.hpp"
#include "assist/faq_match.hpp"
#include "auth/rbac.hpp"
#include "common/random.hpp"
#include "common/text.hpp"
#include "common/time.hpp"
#include "events/bus.hpp"
#include "mq/broker.hpp"
#include "pipeline/pipelines.hpp"
#include "search/search.hpp"
#include "serving/serving.hpp"
#include "text/nlu_model.hpp"

namespace aimass::assist {

using nlohmann::json;

namespace {

constexpr size_t kPredictBatch = 256;
constexpr size_t kMaxTexts = 10000;
constexpr size_t kMaxMessageBytes = 5000;
constexpr int64_t kHistory = 50;
constexpr const char* kAgentsSubscription = "assist-agents";

json TurnJson(const TurnRow& t) {
  json j = {{"id", t.id}, {"role", t.role}, {"text", t.text}, {"at", Rfc3339Ms(t.created_ms)}, {"session", t.session}};
  if (!t.intent.empty()) {
    j["intent"] = t.intent;
    j["confidence"] = t.confidence;
  }
  if (t.fallback) j["fallback"] = true;
  if (!t.source.empty()) j["source"] = json::parse(t.source, nullptr, false);
  if (!t.author.empty()) j["author"] = t.author;
  return j;
}

json HandoffJson(const HandoffRow& h) {
  json j = {{"id", h.id}, {"bot", h.bot}, {"conversation_id", h.conversation}, {"reason", h.reason}, {"state", h.state},
            {"created_at", Rfc3339Ms(h.created_ms)}};
  if (!h.agent.empty()) j["agent"] = h.agent;
  if (h.claimed_ms) j["claimed_at"] = Rfc3339Ms(h.claimed_ms);
  if (h.ended_ms) j["ended_at"] = Rfc3339Ms(h.ended_ms);
  return j;
}

std::string PipelineSpec(const std::string& bot) {
  const std::string dep = DeploymentOf(bot);
  json spec = {
      {"name", PipelineOf(bot)},
      {"description", "Trains bot " + bot + "'s NLU model and serves it (made by the assist module)"},
      {"params", {{"version", 1}}},
      {"steps",
       json::array({{{"name", "train"}, {"uses", "train.assist"}, {"cache", false},
                     {"resources", {{"cpus", 2}, {"memory_mb", 4096}}},
                     {"with", {{"bot", bot}, {"version", "${{ params.version }}"}}}},
                    {{"name", "register"}, {"uses", "register"}, {"needs", {"train"}},
                     {"with", {{"model", dep}, {"task", "text-classification"}, {"run", "${{ steps.train.outputs.run }}"},
                               {"artifact", "model/model.nlu"}, {"framework", "nlu"}}}},
                    {{"name", "deploy"}, {"uses", "deploy"}, {"needs", {"register"}},
                     {"with", {{"deployment", dep}, {"model", dep}, {"version", "${{ steps.register.outputs.version }}"}}}}})}};
  return spec.dump();
}

}  // namespace

std::string DeploymentOf(const std::string& bot) { return "assist-" + bot; }
std::string PipelineOf(const std::string& bot) { return "assist-" + bot; }
std::string FaqIndexOf(const std::string& bot) { return "assist-" + bot + "-faq"; }

AssistService::AssistService(storage::Db& db, AssistOptions options)
    : store_(db), options_(std::move(options)), voice_(options_.voice) {}

AssistService::~AssistService() { Stop(); }

void AssistService::Start() {
  sweeper_ = std::thread([this] {
    std::unique_lock lock(sweep_mu_);
    while (!stopping_) {
      sweep_cv_.wait_for(lock, std::chrono::milliseconds(options_.sweep_interval_ms), [this] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      Sweep();
      lock.lock();
    }
  });
}

void AssistService::Stop() {
  {
    std::lock_guard lock(sweep_mu_);
    stopping_ = true;
  }
  sweep_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

void AssistService::Sweep() {
  auto bots = store_.ListBots();
  if (!bots.ok()) return;
  const int64_t now = UnixNowMs();
  for (const auto& b : *bots) {
    auto spec = SpecOfVersion(b.name, b.latest_version);
    if (!spec.ok()) continue;
    auto n = store_.ExpireIdle(b.name, now - (*spec)->conversation_ttl_s * 1000);
    if (n.ok() && *n > 0) spdlog::info("assist: {} idle conversations of bot {} expired", *n, b.name);
  }
}

std::shared_ptr<std::mutex> AssistService::ConversationLock(const std::string& key) {
  std::lock_guard lock(conv_mu_);
  // Locks nobody holds are dropped now and then, so that the map does not grow forever.
  if (conv_locks_.size() > 10000) {
    for (auto it = conv_locks_.begin(); it != conv_locks_.end();) {
      it = it->second.use_count() == 1 ? conv_locks_.erase(it) : std::next(it);
    }
  }
  auto& m = conv_locks_[key];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

Result<std::shared_ptr<const BotSpec>> AssistService::SpecOfVersion(const std::string& bot, int64_t version) {
  {
    std::lock_guard lock(mu_);
    auto it = specs_.find({bot, version});
    if (it != specs_.end()) return it->second;
  }
  AIMASS_ASSIGN_OR_RETURN(BotVersionRow row, store_.GetVersion(bot, version));
  json d = json::parse(row.definition, nullptr, false);
  AIMASS_ASSIGN_OR_RETURN(BotSpec spec, ParseBot(d));
  auto shared = std::make_shared<const BotSpec>(std::move(spec));
  std::lock_guard lock(mu_);
  specs_[{bot, version}] = shared;
  return shared;
}

Result<AssistService::Served> AssistService::SpecFor(const std::string& bot, int64_t model_version) {
  int64_t version = 0;
  {
    std::lock_guard lock(mu_);
    auto it = model_to_bot_version_.find({bot, model_version});
    if (it != model_to_bot_version_.end()) version = it->second;
  }
  if (version == 0) {
    AIMASS_RETURN_IF_ERROR(Refresh(bot));
    AIMASS_ASSIGN_OR_RETURN(auto rows, store_.Versions(bot));
    for (const auto& r : rows) {
      if (r.model_version == model_version) version = r.version;
    }
    if (version == 0) {
      return Status::Unavailable("bot " + bot + ": model version " + std::to_string(model_version) +
                                 " is served but no bot version was trained into it");
    }
    std::lock_guard lock(mu_);
    model_to_bot_version_[{bot, model_version}] = version;
  }
  AIMASS_ASSIGN_OR_RETURN(auto spec, SpecOfVersion(bot, version));
  return Served{std::move(spec), version};
}

Status AssistService::Refresh(const std::string& bot) {
  if (!options_.pipelines) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.Versions(bot));
  for (const auto& r : rows) {
    if (r.state != "training" || r.pipeline_run == 0) continue;
    auto run = options_.pipelines->GetRun(r.pipeline_run);
    if (!run.ok()) {
      AIMASS_RETURN_IF_ERROR(store_.SetTrained(bot, r.version, "failed", 0, "", run.status().message()));
      continue;
    }
    const std::string& state = run->run.state;
    if (state == "succeeded") {
      json evaluation;
      int64_t model_version = 0;
      for (const auto& s : run->steps) {
        json outputs = json::parse(s.outputs, nullptr, false);
        if (!outputs.is_object()) continue;
        if (s.step == "train" && outputs.contains("evaluation")) evaluation = outputs["evaluation"];
        if (s.step == "register" && outputs.contains("version") && outputs["version"].is_number_integer()) {
          model_version = outputs["version"].get<int64_t>();
        }
      }
      AIMASS_RETURN_IF_ERROR(store_.SetTrained(bot, r.version, "trained", model_version, evaluation.dump(), ""));
    } else if (state == "failed" || state == "cancelled") {
      std::string reason = run->run.reason;
      for (const auto& s : run->steps) {
        if (s.state != "failed") continue;
        reason = s.step + ": " + s.reason;
        // The step's last words say why (an "error: …" line of its log).
        auto log = options_.pipelines->StepLog(r.pipeline_run, s.name, 4096);
        if (log.ok()) {
          const size_t at = log->rfind("error: ");
          if (at != std::string::npos) reason += ": " + log->substr(at + 7, log->find('\n', at) - at - 7);
        }
      }
      AIMASS_RETURN_IF_ERROR(store_.SetTrained(bot, r.version, "failed", 0, "", reason.empty() ? state : reason));
    }
  }
  return Status::Ok();
}

Result<json> AssistService::View(const std::string& bot) {
  AIMASS_RETURN_IF_ERROR(Refresh(bot));
  AIMASS_ASSIGN_OR_RETURN(BotRow b, store_.GetBot(bot));
  AIMASS_ASSIGN_OR_RETURN(auto versions, store_.Versions(bot));
  json out = {{"name", b.name}, {"owner", b.owner}, {"latest_version", b.latest_version},
              {"created_at", Rfc3339Ms(b.created_ms)}, {"updated_at", Rfc3339Ms(b.updated_ms)},
              {"deployment", DeploymentOf(bot)}, {"pipeline", PipelineOf(bot)}};
  const BotVersionRow& latest = versions.front();
  out["state"] = latest.state;
  out["definition"] = json::parse(latest.definition, nullptr, false);
  if (!latest.error.empty()) out["error"] = latest.error;
  if (latest.pipeline_run) out["pipeline_run"] = latest.pipeline_run;
  // The evaluation of the newest trained version, and the version serving now.
  for (const auto& v : versions) {
    if (v.state == "trained") {
      out["trained_version"] = v.version;
      out["evaluation"] = json::parse(v.evaluation, nullptr, false);
      break;
    }
  }
  out["serving_version"] = nullptr;
  if (options_.serving) {
    auto d = options_.serving->Get(DeploymentOf(bot));
    if (d.ok()) {
      for (const auto& s : d->serving) {
        if (s.role != "stable") continue;
        for (const auto& v : versions) {
          if (v.model_version == s.version) out["serving_version"] = v.version;
        }
      }
      out["deployment_state"] = d->state;
    }
  }
  return out;
}

Result<json> AssistService::Create(const json& definition, const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(BotSpec spec, ParseBot(definition));
  AIMASS_RETURN_IF_ERROR(store_.AddVersion(spec.name, definition.dump(), who.username, true, UnixNowMs()).status());
  if (options_.bus) options_.bus->Publish("assist.bot.created", json{{"bot", spec.name}}.dump());
  return View(spec.name);
}

Result<json> AssistService::Update(const std::string& bot, json definition, const Principal& who) {
  AIMASS_RETURN_IF_ERROR(store_.GetBot(bot).status());
  if (definition.is_object() && !definition.contains("name")) definition["name"] = bot;
  AIMASS_ASSIGN_OR_RETURN(BotSpec spec, ParseBot(definition));
  if (spec.name != bot) return Status::BadRequest("the definition's name is " + spec.name + ", the URL's " + bot);
  AIMASS_RETURN_IF_ERROR(store_.AddVersion(bot, definition.dump(), who.username, false, UnixNowMs()).status());
  return View(bot);
}

Result<json> AssistService::Get(const std::string& bot) { return View(bot); }

Result<json> AssistService::List() {
  AIMASS_ASSIGN_OR_RETURN(auto bots, store_.ListBots());
  json out = json::array();
  for (const auto& b : bots) {
    auto v = View(b.name);
    if (!v.ok()) continue;
    v->erase("definition");
    out.push_back(std::move(*v));
  }
  return json{{"bots", out}};
}

Status AssistService::Delete(const std::string& bot) {
  AIMASS_RETURN_IF_ERROR(store_.DeleteBot(bot));
  if (options_.serving) (void)options_.serving->Delete(DeploymentOf(bot));
  if (options_.pipelines) (void)options_.pipelines->Delete(PipelineOf(bot));
  std::lock_guard lock(mu_);
  for (auto it = specs_.begin(); it != specs_.end();) it = it->first.first == bot ? specs_.erase(it) : std::next(it);
  for (auto it = model_to_bot_version_.begin(); it != model_to_bot_version_.end();) {
    it = it->first.first == bot ? model_to_bot_version_.erase(it) : std::next(it);
  }
  return Status::Ok();
}

Result<json> AssistService::Version(const std::string& bot, int64_t version) {
  AIMASS_RETURN_IF_ERROR(Refresh(bot));
  AIMASS_ASSIGN_OR_RETURN(BotVersionRow v, store_.GetVersion(bot, version));
  json out = {{"bot", v.bot}, {"version", v.version}, {"state", v.state}, {"created_by", v.created_by},
              {"created_at", Rfc3339Ms(v.created_ms)}, {"definition", json::parse(v.definition, nullptr, false)}};
  if (v.pipeline_run) out["pipeline_run"] = v.pipeline_run;
  if (v.model_version) out["model_version"] = v.model_version;
  if (!v.evaluation.empty()) out["evaluation"] = json::parse(v.evaluation, nullptr, false);
  if (!v.error.empty()) out["error"] = v.error;
  return out;
}

Result<json> AssistService::Versions(const std::string& bot) {
  AIMASS_RETURN_IF_ERROR(Refresh(bot));
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.Versions(bot));
  if (rows.empty()) return Status::NotFound("no bot '" + bot + "'");
  json out = json::array();
  for (const auto& v : rows) {
    json j = {{"version", v.version}, {"state", v.state}, {"created_by", v.created_by}, {"created_at", Rfc3339Ms(v.created_ms)}};
    if (v.model_version) j["model_version"] = v.model_version;
    if (!v.evaluation.empty()) {
      json e = json::parse(v.evaluation, nullptr, false);
      for (const char* k : {"accuracy", "in_scope_accuracy", "out_of_scope_recall", "kind"}) {
        if (e.is_object() && e.contains(k)) j[k] = e[k];
      }
    }
    if (!v.error.empty()) j["error"] = v.error;
    out.push_back(std::move(j));
  }
  return json{{"versions", out}};
}

Status AssistService::EnsureFaqIndex(const BotSpec& bot, const Principal& who) {
  if (!bot.faq || bot.faq->dataset.empty()) return Status::Ok();
  if (!options_.search) return Status::BadRequest("faq.dataset: this process has no search module");
  const std::string name = FaqIndexOf(bot.name);
  if (options_.search->Get(name).ok()) return Status::Ok();
  json body = {{"name", name},
               {"language", bot.language},
               {"fields", {{bot.faq->question, {{"type", "text"}, {"weight", 2}}}, {bot.faq->answer, {{"type", "text"}}}}},
               {"source", {{"dataset", bot.faq->dataset}, {"version", "latest"}}}};
  auto created = options_.search->Create(body, who.username);
  if (!created.ok() && created.status().code() != Code::kConflict) return created.status();
  return options_.search->Sync(name);
}

Result<json> AssistService::Train(const std::string& bot, std::optional<int64_t> version, const Principal& who) {
  if (!options_.pipelines) return Status::Unavailable("this process has no pipeline module to train bots with");
  AIMASS_ASSIGN_OR_RETURN(BotRow b, store_.GetBot(bot));
  const int64_t v = version.value_or(b.latest_version);
  AIMASS_ASSIGN_OR_RETURN(auto spec, SpecOfVersion(bot, v));
  AIMASS_RETURN_IF_ERROR(EnsureFaqIndex(*spec, who));
  const std::string pipeline = PipelineOf(bot);
  if (!options_.pipelines->Get(pipeline).ok()) {
    auto created = options_.pipelines->Create(PipelineSpec(bot), who);
    if (!created.ok() && created.status().code() != Code::kConflict) return created.status();
  }
  AIMASS_ASSIGN_OR_RETURN(pipeline::RunView run, options_.pipelines->StartRun(pipeline, json{{"version", v}}, "api", who));
  AIMASS_RETURN_IF_ERROR(store_.SetTraining(bot, v, run.run.id));
  if (options_.bus) options_.bus->Publish("assist.bot.training", json{{"bot", bot}, {"version", v}, {"pipeline_run", run.run.id}}.dump());
  return View(bot);
}

Result<json> AssistService::Rollback(const std::string& bot, int64_t version, const Principal& who) {
  if (!options_.serving) return Status::Unavailable("this process has no serving module");
  AIMASS_RETURN_IF_ERROR(Refresh(bot));
  AIMASS_ASSIGN_OR_RETURN(BotVersionRow v, store_.GetVersion(bot, version));
  if (v.state != "trained" || v.model_version == 0) {
    return Status::Conflict("bot " + bot + " version " + std::to_string(version) + " is " + v.state + ", not trained");
  }
  AIMASS_RETURN_IF_ERROR(options_.serving->Update(who, DeploymentOf(bot), json{{"version", v.model_version}}).status());
  return View(bot);
}

Result<AssistService::Understood> AssistService::Understand(const std::string& bot, const std::vector<std::string>& texts) {
  if (!options_.serving) return Status::Unavailable("this process has no serving module");
  Understood out;
  for (size_t at = 0; at < texts.size(); at += kPredictBatch) {
    const size_t n = std::min(kPredictBatch, texts.size() - at);
    std::vector<serving::Tensor> inputs;
    inputs.push_back(serving::BytesTensor("text", texts, at, n));
    auto r = options_.serving->Infer(DeploymentOf(bot), std::nullopt, std::move(inputs));
    if (!r.ok()) {
      if (r.status().code() == Code::kNotFound) {
        return Status::Conflict("bot " + bot + " is not trained yet (no deployment " + DeploymentOf(bot) + ")");
      }
      return r.status();
    }
    out.model_version = r->version;
    const serving::Tensor *intent = nullptr, *conf = nullptr, *probs = nullptr, *ents = nullptr;
    for (const auto& t : r->outputs) {
      if (t.name == "intent") intent = &t;
      if (t.name == "confidence") conf = &t;
      if (t.name == "probabilities") probs = &t;
      if (t.name == "entities") ents = &t;
    }
    if (!intent || !conf || !ents || !probs || conf->data.size() != n * sizeof(float)) {
      return Status::Internal("deployment " + DeploymentOf(bot) + " is not an NLU model");
    }
    std::vector<std::string_view> names = serving::BytesElements(intent->data), entities = serving::BytesElements(ents->data);
    if (names.size() != n || entities.size() != n) return Status::Internal("the NLU model answered with the wrong count");
    AIMASS_ASSIGN_OR_RETURN(out.served, SpecFor(bot, r->version));
    const BotSpec* spec = out.served.spec.get();
    const size_t k = spec->intents.size();
    if (probs->data.size() != n * k * sizeof(float)) return Status::Internal("the NLU model's intents do not match its bot version");
    for (size_t i = 0; i < n; ++i) {
      Understanding u;
      u.intent = std::string(names[i]);
      float c = 0;
      std::memcpy(&c, conf->data.data() + i * sizeof(float), sizeof c);
      u.confidence = c;
      json e = json::parse(entities[i], nullptr, false);
      if (e.is_array()) {
        for (const auto& x : e) {
          if (x.is_object()) u.entities.push_back(text::EntityFromJson(x));
        }
      }
      // The best few intents with their probabilities.
      std::vector<std::pair<float, size_t>> p(k);
      for (size_t c2 = 0; c2 < k; ++c2) {
        float v = 0;
        std::memcpy(&v, probs->data.data() + (i * k + c2) * sizeof(float), sizeof v);
        p[c2] = {v, c2};
      }
      const size_t top = std::min<size_t>(5, k);
      std::partial_sort(p.begin(), p.begin() + top, p.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      json ranking = json::array();
      for (size_t j = 0; j < top; ++j) ranking.push_back({{"name", spec->intents[p[j].second]}, {"confidence", p[j].first}});
      out.rankings.push_back(std::move(ranking));
      out.results.push_back(std::move(u));
    }
  }
  return out;
}

Result<json> AssistService::Predict(const std::string& bot, const std::vector<std::string>& texts) {
  if (texts.size() > kMaxTexts) return Status::TooLarge("at most 10000 texts in one request");
  AIMASS_RETURN_IF_ERROR(store_.GetBot(bot).status());
  AIMASS_ASSIGN_OR_RETURN(Understood u, Understand(bot, texts));
  json out = json::array();
  for (size_t i = 0; i < u.results.size(); ++i) {
    json ents = json::array();
    for (const auto& e : u.results[i].entities) ents.push_back(text::EntityJson(e));
    out.push_back({{"intent", u.results[i].intent}, {"confidence", u.results[i].confidence}, {"entities", ents},
                   {"ranking", u.rankings[i]}});
  }
  return json{{"predictions", out}, {"model_version", u.model_version}};
}

std::optional<FaqAnswer> AssistService::LookupFaq(const BotSpec& bot, const std::string& text) {
  if (!bot.faq || !options_.search) return std::nullopt;
  const std::string index = bot.faq->index.empty() ? FaqIndexOf(bot.name) : bot.faq->index;
  search::SearchRequest req;
  req.q = text;
  req.limit = 5;
  req.highlight = false;
  auto r = options_.search->Search(index, req);
  if (!r.ok()) {
    spdlog::warn("assist: bot {}: FAQ search in {} failed: {}", bot.name, index, r.status().message());
    return std::nullopt;
  }
  // The hit whose question covers most of the message, when it covers enough.
  std::optional<FaqAnswer> best;
  for (const auto& h : r->hits) {
    const json& d = h.document;
    if (!d.contains(bot.faq->answer) || !d[bot.faq->answer].is_string()) continue;
    const std::string question = d.contains(bot.faq->question) && d[bot.faq->question].is_string()
                                     ? d[bot.faq->question].get<std::string>()
                                     : std::string();
    const double coverage = Coverage(text, question, bot.language);
    if (coverage < bot.faq->min_coverage || (best && coverage <= best->coverage)) continue;
    best = FaqAnswer{d[bot.faq->answer].get<std::string>(), question, json{{"index", index}, {"id", h.id}}, coverage};
  }
  return best;
}

void AssistService::PublishTurns(const std::vector<TurnRow>& turns) {
  if (!options_.bus) return;
  for (const auto& t : turns) {
    json e = TurnJson(t);
    e["bot"] = t.bot;
    e["conversation_id"] = t.conversation;
    options_.bus->Publish("assist.conversation." + t.bot + "." + t.conversation, e.dump());
  }
}

Status AssistService::PublishOnTopic(const std::string& topic, const std::string& key, const std::string& body,
                                    const char* subscription) {
  mq::TopicSpec t;
  t.name = topic;
  if (auto c = options_.broker->CreateTopic(t); !c.ok() && c.status().code() != Code::kConflict) return c.status();
  // The subscription before the message, so that the first message reaches it too.
  if (subscription) {
    mq::SubscriptionSpec s;
    s.name = subscription;
    s.topic = topic;
    s.from_earliest = true;
    if (auto c = options_.broker->CreateSubscription(s); !c.ok() && c.status().code() != Code::kConflict) return c.status();
  }
  mq::OutgoingMessage m;
  m.key = key;
  m.headers = {{"content-type", "application/json"}};
  m.body = body;
  return options_.broker->Publish(topic, {std::move(m)}).status();
}

void AssistService::QueueHandoff(const std::string& bot, const std::string& conversation, const std::string& reason,
                                 const std::string& topic) {
  const std::string body = json{{"bot", bot}, {"conversation_id", conversation}, {"reason", reason}}.dump();
  if (options_.bus) options_.bus->Publish("assist.handoff." + bot, body);
  if (!options_.broker) return;
  if (Status p = PublishOnTopic(topic, bot + "/" + conversation, body, kAgentsSubscription); !p.ok()) {
    spdlog::warn("assist: handoff of {}/{} not queued: {}", bot, conversation, p.message());
  }
}

Result<json> AssistService::Message(const std::string& bot, const IncomingMessage& in) {
  if (in.text.empty()) return Status::BadRequest("text is empty");
  if (in.text.size() > kMaxMessageBytes) return Status::TooLarge("a message is at most 5000 bytes");
  std::string id = in.conversation_id.empty() ? RandomHex(12) : in.conversation_id;
  AIMASS_RETURN_IF_ERROR(ValidateConversationId(id));
  AIMASS_RETURN_IF_ERROR(store_.GetBot(bot).status());
  auto lock = ConversationLock(bot + "/" + id);
  std::lock_guard guard(*lock);
  const int64_t now = UnixNowMs();
  AIMASS_ASSIGN_OR_RETURN(auto existing, store_.GetConversation(bot, id));
  ConversationRow row;
  ConversationState state;
  if (existing) {
    row = *existing;
    state = ConversationState::FromJson(json::parse(row.state, nullptr, false));
    state.status = row.status;
  } else {
    row.bot = bot;
    row.id = id;
    row.created_ms = now;
  }

  // With a person: the message goes to the agent, the bot stays quiet.
  if (existing && row.status == "handoff") {
    row.updated_ms = now;
    TurnRow user{0, bot, id, row.session, "user", in.text, "", 0, false, false, "", "", now};
    AIMASS_ASSIGN_OR_RETURN(auto saved, store_.SaveTurns(row, {user}, std::nullopt));
    PublishTurns(saved);
    return json{{"conversation_id", id}, {"replies", json::array()}, {"state", state.ToJson()}, {"handoff", true}};
  }

  AIMASS_ASSIGN_OR_RETURN(Understood u, Understand(bot, {in.text}));
  const std::shared_ptr<const BotSpec>& spec = u.served.spec;
  // A conversation idle past its time (or ended) starts a new session: the same id, a fresh state.
  if (existing && (row.status != "bot" || now - row.updated_ms > spec->conversation_ttl_s * 1000)) {
    ++row.session;
    state = ConversationState();
  }
  const Understanding& understood = u.results.at(0);
  Outcome outcome = Respond(*spec, state, in.text, understood,
                            [this, &spec](const std::string& t) { return LookupFaq(*spec, t); });
  row.status = state.status;
  row.state = state.ToJson().dump();
  row.updated_ms = now;
  std::optional<HandoffRow> handoff;
  if (!outcome.handoff_reason.empty()) {
    row.handoff_reason = outcome.handoff_reason;
    handoff = HandoffRow{0, bot, id, outcome.handoff_reason, "waiting", "", now, 0, 0};
  }
  std::vector<TurnRow> turns;
  turns.push_back({0, bot, id, row.session, "user", in.text, understood.intent, understood.confidence, outcome.fallback,
                   outcome.answered_from_faq, "", "", now});
  for (const auto& r : outcome.replies) {
    turns.push_back({0, bot, id, row.session, "bot", r.text, "", 0, false, false, r.source.is_null() ? "" : r.source.dump(), "", now});
  }
  AIMASS_ASSIGN_OR_RETURN(auto saved, store_.SaveTurns(row, std::move(turns), handoff));
  PublishTurns(saved);
  if (handoff) QueueHandoff(bot, id, handoff->reason, spec->handoff_topic);
  if (!outcome.submitted_form.empty()) {
    const FormSpec* form = spec->Form(outcome.submitted_form);
    json body = {{"bot", bot}, {"conversation_id", id}, {"form", outcome.submitted_form}, {"slots", state.slots}};
    if (options_.bus) options_.bus->Publish("assist.form.submitted", body.dump());
    if (form && !form->topic.empty() && options_.broker) {
      if (Status p = PublishOnTopic(form->topic, bot + "/" + id, body.dump()); !p.ok()) {
        spdlog::warn("assist: form {} of {}/{} not published: {}", form->name, bot, id, p.message());
      }
    }
  }

  json replies = json::array();
  for (const auto& r : outcome.replies) {
    json j = {{"text", r.text}};
    if (!r.source.is_null()) j["source"] = r.source;
    replies.push_back(std::move(j));
  }
  json entities = json::array();
  for (const auto& e : understood.entities) entities.push_back(text::EntityJson(e));
  json out = {{"conversation_id", id},
              {"replies", replies},
              {"intent", {{"name", understood.intent}, {"confidence", understood.confidence}}},
              {"ranking", u.rankings.at(0)},
              {"entities", entities},
              {"slots", state.slots},
              {"state", state.ToJson()},
              {"bot_version", u.served.bot_version}};
  if (outcome.fallback) out["fallback"] = true;
  if (handoff) out["handoff"] = {{"reason", handoff->reason}};
  if (!outcome.submitted_form.empty()) out["submitted"] = outcome.submitted_form;
  return out;
}

Result<AudioAnswer> AssistService::AudioMessage(const std::string& bot, const std::string& conversation_id,
                                                std::string_view wav, bool speak) {
  if (!options_.serving) return Status::Unavailable("this process has no serving module");
  AIMASS_RETURN_IF_ERROR(store_.GetBot(bot).status());
  // The grammar is the stable version's: the one most customers' messages are understood by.
  auto d = options_.serving->Get(DeploymentOf(bot));
  if (!d.ok()) {
    if (d.status().code() == Code::kNotFound) return Status::Conflict("bot " + bot + " is not trained yet");
    return d.status();
  }
  int64_t model_version = 0;
  for (const auto& s : d->serving) {
    if (s.role == "stable") model_version = s.version;
  }
  if (!model_version) return Status::Conflict("bot " + bot + " has no version serving");
  AIMASS_ASSIGN_OR_RETURN(Served served, SpecFor(bot, model_version));
  AIMASS_ASSIGN_OR_RETURN(speech::Transcript heard, voice_.Hear(*served.spec, served.bot_version, wav));
  if (heard.text.empty()) return Status::Unprocessable("no speech the bot expects was recognised in the audio");
  AIMASS_ASSIGN_OR_RETURN(json answer, Message(bot, IncomingMessage{conversation_id, heard.text}));
  answer["transcript"] = {{"text", heard.text}, {"search", heard.search}};
  AudioAnswer out;
  if (speak) {
    std::string said;
    for (const auto& r : answer["replies"]) said += (said.empty() ? "" : " ") + r.value("text", "");
    if (!said.empty()) {
      AIMASS_ASSIGN_OR_RETURN(out.wav, VoiceChannel::Say(said, served.spec->language));
      answer["audio"] = {{"content_type", "audio/wav"}, {"bytes", out.wav.size()}, {"data", Base64Encode(out.wav)}};
    }
  }
  out.body = std::move(answer);
  return out;
}

Result<json> AssistService::Conversation(const std::string& bot, const std::string& id, int64_t after_turn) {
  AIMASS_ASSIGN_OR_RETURN(auto c, store_.GetConversation(bot, id));
  if (!c) return Status::NotFound("bot " + bot + " has no conversation '" + id + "'");
  AIMASS_ASSIGN_OR_RETURN(auto turns, store_.Turns(bot, id, after_turn, 1000));
  json t = json::array();
  for (const auto& x : turns) t.push_back(TurnJson(x));
  json state = json::parse(c->state, nullptr, false);
  if (state.is_object()) state["status"] = c->status;
  json out = {{"conversation_id", id}, {"bot", bot}, {"status", c->status}, {"session", c->session}, {"state", state},
              {"turns", t}, {"created_at", Rfc3339Ms(c->created_ms)}, {"updated_at", Rfc3339Ms(c->updated_ms)}};
  if (!c->agent.empty()) out["agent"] = c->agent;
  if (!c->handoff_reason.empty()) out["handoff_reason"] = c->handoff_reason;
  return out;
}

Result<json> AssistService::Conversations(const std::string& bot, const std::string& status, int64_t limit) {
  AIMASS_RETURN_IF_ERROR(store_.GetBot(bot).status());
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.Conversations(bot, status, limit));
  json out = json::array();
  for (const auto& c : rows) {
    json j = {{"conversation_id", c.id}, {"status", c.status}, {"session", c.session},
              {"created_at", Rfc3339Ms(c.created_ms)}, {"updated_at", Rfc3339Ms(c.updated_ms)}};
    if (!c.agent.empty()) j["agent"] = c.agent;
    if (!c.handoff_reason.empty()) j["handoff_reason"] = c.handoff_reason;
    out.push_back(std::move(j));
  }
  return json{{"conversations", out}};
}

Result<json> AssistService::Handoffs(const std::string& bot, const std::string& state, int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.Handoffs(bot, state, limit));
  json out = json::array();
  for (const auto& h : rows) {
    json j = HandoffJson(h);
    auto turns = store_.LastTurns(h.bot, h.conversation, kHistory);
    if (turns.ok() && !turns->empty()) {
      json hist = json::array();
      for (const auto& t : *turns) hist.push_back(TurnJson(t));
      j["history"] = hist;
    }
    out.push_back(std::move(j));
  }
  return json{{"handoffs", out}};
}

Result<HandoffRow> AssistService::OpenHandoffOf(const std::string& bot, const std::string& conversation) {
  AIMASS_ASSIGN_OR_RETURN(auto h, store_.OpenHandoff(bot, conversation));
  if (!h) return Status::NotFound("conversation " + conversation + " of bot " + bot + " is not with a person");
  return *h;
}

Result<json> AssistService::Claim(const std::string& bot, const std::string& conversation, const Principal& agent) {
  AIMASS_ASSIGN_OR_RETURN(HandoffRow h, OpenHandoffOf(bot, conversation));
  if (h.state == "active" && h.agent == agent.username) return Conversation(bot, conversation, 0);
  AIMASS_RETURN_IF_ERROR(store_.ClaimHandoff(h.id, agent.username, UnixNowMs()));
  if (options_.bus) {
    options_.bus->Publish("assist.handoff." + bot,
                          json{{"bot", bot}, {"conversation_id", conversation}, {"state", "active"}, {"agent", agent.username}}.dump());
  }
  return Conversation(bot, conversation, 0);
}

Result<json> AssistService::NextHandoff(const std::string& bot, const Principal& agent) {
  // The queue first: agents share one subscription, so each waiting conversation goes to one.
  if (options_.broker) {
    auto batch = options_.broker->Fetch(kAgentsSubscription, 10, std::chrono::milliseconds(0));
    if (batch.ok()) {
      std::vector<std::string> done, others;
      std::optional<json> claimed;
      for (const auto& d : *batch) {
        json m = json::parse(d.message.body, nullptr, false);
        const std::string b = m.is_object() ? m.value("bot", "") : "";
        const std::string c = m.is_object() ? m.value("conversation_id", "") : "";
        if (claimed || (!bot.empty() && b != bot)) {
          others.push_back(d.id);
          continue;
        }
        done.push_back(d.id);
        auto r = Claim(b, c, agent);
        if (r.ok()) claimed = std::move(*r);
      }
      if (!done.empty()) (void)options_.broker->Ack(kAgentsSubscription, done);
      if (!others.empty()) (void)options_.broker->Nack(kAgentsSubscription, others, std::chrono::milliseconds(0));
      if (claimed) return *claimed;
    }
  }
  // Whatever waits without a queued message (a queue outage, or none configured): oldest first.
  AIMASS_ASSIGN_OR_RETURN(auto waiting, store_.Handoffs(bot, "waiting", 20));
  for (const auto& h : waiting) {
    auto r = Claim(h.bot, h.conversation, agent);
    if (r.ok()) return *r;
  }
  return Status::NotFound("no conversation is waiting for a person");
}

Result<json> AssistService::AgentMessage(const std::string& bot, const std::string& conversation, const std::string& text,
                                         const Principal& agent) {
  if (text.empty()) return Status::BadRequest("text is empty");
  if (text.size() > kMaxMessageBytes) return Status::TooLarge("a message is at most 5000 bytes");
  AIMASS_ASSIGN_OR_RETURN(HandoffRow h, OpenHandoffOf(bot, conversation));
  if (h.state == "waiting") {
    AIMASS_RETURN_IF_ERROR(store_.ClaimHandoff(h.id, agent.username, UnixNowMs()));
  } else if (h.agent != agent.username) {
    return Status::Conflict("agent " + h.agent + " has this conversation");
  }
  auto lock = ConversationLock(bot + "/" + conversation);
  std::lock_guard guard(*lock);
  AIMASS_ASSIGN_OR_RETURN(auto c, store_.GetConversation(bot, conversation));
  if (!c) return Status::NotFound("no conversation '" + conversation + "'");
  ConversationRow row = *c;
  row.agent = agent.username;
  row.updated_ms = UnixNowMs();
  TurnRow t{0, bot, conversation, row.session, "agent", text, "", 0, false, false, "", agent.username, row.updated_ms};
  AIMASS_ASSIGN_OR_RETURN(auto saved, store_.SaveTurns(row, {t}, std::nullopt));
  PublishTurns(saved);
  return TurnJson(saved.at(0));
}

Result<json> AssistService::EndHandoff(const std::string& bot, const std::string& conversation, bool close,
                                       const Principal& agent) {
  AIMASS_ASSIGN_OR_RETURN(HandoffRow h, OpenHandoffOf(bot, conversation));
  if (h.state == "active" && h.agent != agent.username && !auth::Allows(agent.permissions, "assist:write")) {
    return Status::Conflict("agent " + h.agent + " has this conversation");
  }
  AIMASS_RETURN_IF_ERROR(store_.EndHandoff(h.id, close ? "closed" : "released", UnixNowMs()));
  if (!close) {
    // Back with the bot: its fallback count starts again.
    auto lock = ConversationLock(bot + "/" + conversation);
    std::lock_guard guard(*lock);
    AIMASS_ASSIGN_OR_RETURN(auto c, store_.GetConversation(bot, conversation));
    if (c) {
      ConversationRow row = *c;
      ConversationState s = ConversationState::FromJson(json::parse(row.state, nullptr, false));
      s.status = "bot";
      s.fallbacks_in_row = 0;
      row.state = s.ToJson().dump();
      AIMASS_RETURN_IF_ERROR(store_.SaveTurns(row, {}, std::nullopt).status());
    }
  }
  if (options_.bus) {
    options_.bus->Publish("assist.handoff." + bot, json{{"bot", bot}, {"conversation_id", conversation},
                                                        {"state", close ? "closed" : "released"}, {"agent", agent.username}}.dump());
  }
  return Conversation(bot, conversation, 0);
}

Result<json> AssistService::Analytics(const std::string& bot, int64_t from_ms, int64_t to_ms, int64_t interval_ms) {
  AIMASS_RETURN_IF_ERROR(store_.GetBot(bot).status());
  return BotAnalytics(store_.db(), bot, from_ms, to_ms, interval_ms);
}

}  // namespace aimass::assist
