#include "cli/llm_commands.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/api_client.hpp"
#include "cli/output.hpp"

namespace aimass::cli {

using nlohmann::json;

struct LlmCommands {
  CLI::App *models = nullptr, *chat = nullptr, *complete = nullptr;
  std::string deployment, text, system;
  std::vector<std::string> stop;
  int64_t max_tokens = 256;
  double temperature = 0.7, top_p = 1.0;
  std::optional<int64_t> seed;
};

namespace {

void SamplingOptions(CLI::App* c, LlmCommands& l) {
  c->add_option("deployment", l.deployment, "The language-model deployment")->required();
  c->add_option("text", l.text, "The message (chat) or prompt (complete)")->required();
  c->add_option("--max-tokens", l.max_tokens, "Tokens to generate at most (default 256)");
  c->add_option("--temperature", l.temperature, "0 (greedy) to 2 (default 0.7)");
  c->add_option("--top-p", l.top_p, "Nucleus sampling (default 1)");
  c->add_option("--seed", l.seed, "Repeatable draws");
  c->add_option("--stop", l.stop, "A stop sequence (repeatable, up to 4)");
}

json Body(const LlmCommands& l) {
  json b = {{"model", l.deployment}, {"max_tokens", l.max_tokens}, {"temperature", l.temperature}, {"top_p", l.top_p}};
  if (l.seed) b["seed"] = *l.seed;
  if (!l.stop.empty()) b["stop"] = l.stop;
  return b;
}

}  // namespace

std::shared_ptr<LlmCommands> AddLlmCommands(CLI::App& app) {
  auto c = std::make_shared<LlmCommands>();
  auto* root = app.add_subcommand("llm", "Language models: list them, chat, complete (the OpenAI-compatible API)");
  root->require_subcommand(1);
  c->models = root->add_subcommand("models", "The language-model deployments you may call");
  c->chat = root->add_subcommand("chat", "One chat turn: prints the assistant's answer (--json: the whole response)");
  SamplingOptions(c->chat, *c);
  c->chat->add_option("--system", c->system, "A system message first");
  c->complete = root->add_subcommand("complete", "Continue a prompt: prints the completion (--json: the whole response)");
  SamplingOptions(c->complete, *c);
  return c;
}

std::optional<int> RunLlmCommands(LlmCommands& c, ApiClient& api, bool as_json) {
  if (c.models->parsed()) {
    auto res = api.Call(http::Method::kGet, "/v1/models");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& m : (*res)["data"]) rows.push_back({m.value("id", ""), NumberCell(m["created"])});
    PrintTable({"DEPLOYMENT", "CREATED"}, rows);
    return 0;
  }
  if (c.chat->parsed() || c.complete->parsed()) {
    const bool chat = c.chat->parsed();
    json body = Body(c);
    if (chat) {
      body["messages"] = json::array();
      if (!c.system.empty()) body["messages"].push_back({{"role", "system"}, {"content", c.system}});
      body["messages"].push_back({{"role", "user"}, {"content", c.text}});
    } else {
      body["prompt"] = c.text;
    }
    auto res = api.Call(http::Method::kPost, chat ? "/v1/chat/completions" : "/v1/completions", &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    const json& choice = (*res)["choices"][0];
    std::cout << (chat ? choice["message"].value("content", "") : choice.value("text", "")) << "\n";
    const json& u = (*res)["usage"];
    std::cerr << "(" << choice.value("finish_reason", "") << "; " << u.value("prompt_tokens", 0) << " prompt + "
              << u.value("completion_tokens", 0) << " completion tokens)\n";
    return 0;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
