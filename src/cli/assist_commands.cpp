#include "cli/assist_commands.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "cli/api_client.hpp"
#include "cli/output.hpp"
#include "common/file.hpp"
#include "common/text.hpp"

namespace aimass::cli {

using nlohmann::json;

struct AssistCommands {
  CLI::App *create = nullptr, *list = nullptr, *show = nullptr, *train = nullptr, *chat = nullptr, *test = nullptr,
           *rollback = nullptr;
  std::string bot, file, conversation, message, audio, speak;
  int64_t version = 0, timeout_s = 1800;
  bool no_wait = false;
};

namespace {

constexpr const char* kBase = "/api/v1/assist/bots";

std::string Percent(const json& v) {
  if (!v.is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100 * v.get<double>());
  return buf;
}

void PrintEvaluation(const json& e) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& k : e.value("kinds", json::array())) {
    rows.push_back({Cell(k, "kind") + (k["kind"] == e["kind"] ? " (kept)" : ""), Percent(k["accuracy"]),
                    Percent(k["in_scope_accuracy"]), Percent(k["out_of_scope_recall"]), Cell(k, "threshold")});
  }
  PrintTable({"KIND", "ACCURACY", "IN SCOPE", "OUT-OF-SCOPE RECALL", "THRESHOLD"}, rows);
  std::cout << "held out: " << Cell(e, "held_out") << " of " << Cell(e, "examples") << " examples ("
            << Cell(e, "folds") << " folds), trained in " << Cell(e, "train_seconds") << " s\n";
}

// Texts with their intents: JSON lines {"text","intent"}, or "intent<TAB>text" lines.
Result<std::vector<std::pair<std::string, std::string>>> LabelledMessages(const std::string& body) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(body);
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    if (line[0] == '{') {
      json j = json::parse(line, nullptr, false);
      if (!j.is_object() || !j.contains("text") || !j.contains("intent") || !j["text"].is_string() || !j["intent"].is_string()) {
        return Status::BadRequest("line " + std::to_string(n) + ": {\"text\",\"intent\"} expected");
      }
      out.emplace_back(j["text"], j["intent"]);
    } else {
      const size_t tab = line.find('\t');
      if (tab == std::string::npos) return Status::BadRequest("line " + std::to_string(n) + ": intent<TAB>text expected");
      out.emplace_back(line.substr(tab + 1), line.substr(0, tab));
    }
  }
  if (out.empty()) return Status::BadRequest("no labelled messages");
  return out;
}

}  // namespace

std::shared_ptr<AssistCommands> AddAssistCommands(CLI::App& app) {
  auto c = std::make_shared<AssistCommands>();
  auto* root = app.add_subcommand("assist", "Customer-service bots: define, train, chat, test");
  root->require_subcommand(1);
  c->create = root->add_subcommand("create", "Create a bot from a definition file (a new version when it exists)");
  c->create->add_option("file", c->file, "The definition (JSON), or - for stdin")->required();
  c->list = root->add_subcommand("list", "List bots and their state");
  c->show = root->add_subcommand("show", "Show a bot: state, versions and evaluation");
  c->show->add_option("bot", c->bot, "Bot name")->required();
  c->train = root->add_subcommand("train", "Train a bot's version (the latest by default) and wait for it to serve");
  c->train->add_option("bot", c->bot, "Bot name")->required();
  c->train->add_option("--version", c->version, "The version to train");
  c->train->add_flag("--no-wait", c->no_wait, "Start the training and return");
  c->train->add_option("--timeout", c->timeout_s, "Seconds to wait (default 1800)");
  c->chat = root->add_subcommand("chat", "Talk to a bot: each line of stdin is a message (or --message)");
  c->chat->add_option("bot", c->bot, "Bot name")->required();
  c->chat->add_option("--conversation,-c", c->conversation, "Continue this conversation");
  c->chat->add_option("--message,-m", c->message, "Send one message and exit");
  c->chat->add_option("--audio,-a", c->audio, "Send one spoken message (a WAV file) and exit");
  c->chat->add_option("--speak", c->speak, "With --audio: write the spoken replies to this WAV file");
  c->test = root->add_subcommand("test", "Measure a bot on labelled messages: accuracy, per intent, confusions");
  c->test->add_option("bot", c->bot, "Bot name")->required();
  c->test->add_option("file", c->file, "JSON lines {text, intent} or intent<TAB>text lines, or - for stdin")->required();
  c->rollback = root->add_subcommand("rollback", "Serve an earlier trained version again");
  c->rollback->add_option("bot", c->bot, "Bot name")->required();
  c->rollback->add_option("version", c->version, "The version")->required();
  return c;
}

std::optional<int> RunAssistCommands(AssistCommands& c, ApiClient& api, bool as_json) {
  const std::string one = std::string(kBase) + "/" + UrlEncode(c.bot);
  auto print = [&](const json& j) { return PrintJson(j, as_json); };
  if (c.create->parsed()) {
    auto text = ReadFileOrStdin(c.file);
    if (!text.ok()) return Fail(text.status());
    json body = json::parse(*text, nullptr, false);
    if (!body.is_object() || !body.contains("name") || !body["name"].is_string()) {
      return Fail(Status::BadRequest(c.file + " is not a bot definition (a JSON object with a name)"));
    }
    auto res = api.Call(http::Method::kPost, kBase, &body);
    // The API client carries the server's error code as the message's prefix.
    if (!res.ok() && res.status().message().starts_with("conflict:")) {
      res = api.Call(http::Method::kPut, std::string(kBase) + "/" + UrlEncode(body["name"].get<std::string>()), &body);
    }
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "Bot " << Cell(*res, "name") << " version " << Cell(*res, "latest_version") << " stored (train it to serve it)\n";
    return kOk;
  }
  if (c.list->parsed()) {
    auto res = api.Call(http::Method::kGet, kBase);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print((*res)["bots"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& b : (*res)["bots"]) {
      rows.push_back({Cell(b, "name"), Cell(b, "state"), Cell(b, "latest_version"), Cell(b, "serving_version"),
                      b.contains("evaluation") ? Percent(b["evaluation"]["in_scope_accuracy"]) : "-"});
    }
    PrintTable({"NAME", "STATE", "LATEST", "SERVING", "IN SCOPE"}, rows);
    return kOk;
  }
  if (c.show->parsed()) {
    auto res = api.Call(http::Method::kGet, one);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "Bot " << Cell(*res, "name") << ": " << Cell(*res, "state") << ", latest version " << Cell(*res, "latest_version")
              << ", serving " << Cell(*res, "serving_version") << "\n";
    if (res->contains("error")) std::cout << "error: " << Cell(*res, "error") << "\n";
    if (res->contains("evaluation")) PrintEvaluation((*res)["evaluation"]);
    return kOk;
  }
  if (c.train->parsed()) {
    json body = json::object();
    if (c.version > 0) body["version"] = c.version;
    auto res = api.Call(http::Method::kPost, one + "/train", &body);
    if (!res.ok()) return Fail(res.status());
    if (c.no_wait) {
      if (as_json) return print(*res);
      std::cout << "Training bot " << c.bot << " (pipeline run " << Cell(*res, "pipeline_run") << ")\n";
      return kOk;
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(c.timeout_s);
    while (true) {
      auto b = api.Call(http::Method::kGet, one);
      if (!b.ok()) return Fail(b.status());
      const std::string state = (*b)["state"];
      if (state == "failed") return Fail(Status::Unprocessable("training failed: " + Cell(*b, "error")));
      if (state == "trained" && (*b)["serving_version"] == (*b)["trained_version"]) {
        if (as_json) return print(*b);
        std::cout << "Bot " << c.bot << " version " << Cell(*b, "trained_version") << " trained and serving\n";
        PrintEvaluation((*b)["evaluation"]);
        return kOk;
      }
      if (std::chrono::steady_clock::now() > until) return Fail(Status::DeadlineExceeded("the training did not end in time"));
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  if (c.chat->parsed()) {
    std::string conversation = c.conversation;
    // Prints an answer, or writes its JSON; keeps its conversation for the next message.
    auto show = [&](Result<json> res) -> int {
      if (!res.ok()) return Fail(res.status());
      conversation = (*res)["conversation_id"];
      if (as_json) {
        std::cout << res->dump() << "\n";
        return kOk;
      }
      if (res->contains("transcript")) std::cout << "heard> " << Cell((*res)["transcript"], "text") << "\n";
      for (const auto& r : (*res)["replies"]) {
        std::cout << "bot> " << r["text"].get<std::string>();
        if (r.contains("source")) std::cout << "  [" << Cell(r["source"], "index") << " " << Cell(r["source"], "id") << "]";
        std::cout << "\n";
      }
      std::cout << "     (" << Cell((*res)["intent"], "name") << " " << Cell((*res)["intent"], "confidence");
      if (res->contains("handoff")) std::cout << ", with a person";
      std::cout << ")\n" << std::flush;
      return kOk;
    };
    auto send = [&](const std::string& text) -> int {
      json body = {{"text", text}};
      if (!conversation.empty()) body["conversation_id"] = conversation;
      return show(api.Call(http::Method::kPost, one + "/messages", &body));
    };
    if (!c.audio.empty()) {
      auto wav = ReadFile(c.audio);
      if (!wav.ok()) return Fail(wav.status());
      std::string path = one + "/messages/audio?speak=" + (c.speak.empty() ? "false" : "true");
      if (!conversation.empty()) path += "&conversation_id=" + UrlEncode(conversation);
      auto res = api.Send(http::Method::kPost, path, std::move(*wav), {{"Content-Type", "audio/wav"}});
      if (!res.ok()) return Fail(res.status());
      json answer = json::parse(res->body, nullptr, false);
      if (!answer.is_object()) return Fail(Status::Internal("server answered something that is not JSON"));
      if (!c.speak.empty() && answer.contains("audio")) {
        auto bytes = Base64Decode(answer["audio"].value("data", ""));
        if (!bytes) return Fail(Status::Internal("the spoken reply is not base64"));
        if (Status w = WriteFileAtomically(c.speak, *bytes, 0644); !w.ok()) return Fail(w);
        answer.erase("audio");
      }
      return show(std::move(answer));
    }
    if (!c.message.empty()) return send(c.message);
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.empty()) continue;
      if (int rc = send(line); rc != kOk) return rc;
    }
    if (!as_json && !conversation.empty()) std::cout << "conversation " << conversation << "\n";
    return kOk;
  }
  if (c.test->parsed()) {
    auto text = ReadFileOrStdin(c.file);
    if (!text.ok()) return Fail(text.status());
    auto labelled = LabelledMessages(*text);
    if (!labelled.ok()) return Fail(labelled.status());
    std::map<std::string, std::array<int64_t, 3>> per;  // intent → tp, fp, fn
    std::map<std::pair<std::string, std::string>, int64_t> confused;
    int64_t right = 0;
    for (size_t at = 0; at < labelled->size(); at += 1000) {
      json texts = json::array();
      for (size_t i = at; i < std::min(labelled->size(), at + 1000); ++i) texts.push_back((*labelled)[i].first);
      json body = {{"texts", texts}};
      auto res = api.Call(http::Method::kPost, one + "/predict", &body);
      if (!res.ok()) return Fail(res.status());
      const json& p = (*res)["predictions"];
      for (size_t i = 0; i < p.size(); ++i) {
        const std::string& truth = (*labelled)[at + i].second;
        const std::string got = p[i]["intent"];
        if (got == truth) {
          ++right;
          ++per[truth][0];
        } else {
          ++per[got][1];
          ++per[truth][2];
          ++confused[{truth, got}];
        }
      }
    }
    const double accuracy = static_cast<double>(right) / static_cast<double>(labelled->size());
    json out = {{"messages", labelled->size()}, {"accuracy", accuracy}, {"intents", json::array()}, {"confusions", json::array()}};
    for (const auto& [intent, n] : per) {
      const double p = n[0] + n[1] ? static_cast<double>(n[0]) / static_cast<double>(n[0] + n[1]) : 0;
      const double r = n[0] + n[2] ? static_cast<double>(n[0]) / static_cast<double>(n[0] + n[2]) : 0;
      out["intents"].push_back({{"intent", intent}, {"precision", p}, {"recall", r}, {"support", n[0] + n[2]}});
    }
    std::vector<std::pair<int64_t, std::pair<std::string, std::string>>> pairs;
    for (const auto& [k, n] : confused) pairs.push_back({n, k});
    std::sort(pairs.rbegin(), pairs.rend());
    for (size_t i = 0; i < pairs.size() && i < 20; ++i) {
      out["confusions"].push_back({{"intent", pairs[i].second.first}, {"predicted", pairs[i].second.second}, {"count", pairs[i].first}});
    }
    if (as_json) return print(out);
    std::vector<std::vector<std::string>> rows;
    for (const auto& i : out["intents"]) {
      if (i["support"].get<int64_t>() > 0) rows.push_back({Cell(i, "intent"), Percent(i["precision"]), Percent(i["recall"]), Cell(i, "support")});
    }
    PrintTable({"INTENT", "PRECISION", "RECALL", "SUPPORT"}, rows);
    if (!out["confusions"].empty()) {
      std::cout << "most confused:\n";
      for (const auto& x : out["confusions"]) {
        std::cout << "  " << Cell(x, "intent") << " → " << Cell(x, "predicted") << ": " << Cell(x, "count") << "\n";
      }
    }
    std::cout << "accuracy " << Percent(out["accuracy"]) << " on " << labelled->size() << " messages\n";
    return kOk;
  }
  if (c.rollback->parsed()) {
    json body = {{"version", c.version}};
    auto res = api.Call(http::Method::kPost, one + "/rollback", &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "Bot " << c.bot << " serves version " << c.version << "\n";
    return kOk;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
