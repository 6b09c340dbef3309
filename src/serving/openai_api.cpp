#include "serving/openai_api.hpp"

#include <nlohmann/json.hpp>

#include "common/random.hpp"
#include "common/time.hpp"
#include "http/deferred_response.hpp"
#include "http/json.hpp"
#include "http/push_stream.hpp"
#include "serving/llm_runner.hpp"

namespace aimass::serving {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

using Clock = std::chrono::steady_clock;

std::string ErrorType(Code code) {
  switch (code) {
    case Code::kUnauthenticated: return "authentication_error";
    case Code::kForbidden: return "permission_error";
    case Code::kRateLimited: return "rate_limit_error";
    case Code::kInternal:
    case Code::kBadGateway:
    case Code::kUnavailable:
    case Code::kDeadlineExceeded: return "server_error";
    default: return "invalid_request_error";
  }
}

Json ErrorBody(const Status& st, std::string_view request_id) {
  std::string code(CodeName(st.code()));
  if (st.code() == Code::kNotFound) code = "model_not_found";
  return {{"error", {{"message", st.message()}, {"type", ErrorType(st.code())}, {"param", nullptr}, {"code", code},
                     {"request_id", request_id}}}};
}

#define OPENAI_TRY(lhs, expr) OPENAI_TRY_IMPL(AIMASS_CONCAT(_openai_try_, __LINE__), lhs, expr)
#define OPENAI_TRY_IMPL(tmp, lhs, expr)                                   \
  auto tmp = (expr);                                                      \
  if (!tmp.ok()) return OpenAiErrorResponse(tmp.status(), req.request_id); \
  lhs = std::move(tmp).value()
#define OPENAI_TRY_STATUS(expr) \
  if (::aimass::Status _oa_st = (expr); !_oa_st.ok()) return OpenAiErrorResponse(_oa_st, req.request_id)

// The sampling fields both routes share (OpenAI's, and vLLM's top_k, repetition_penalty,
// ignore_eos). Unknown fields are ignored, as OpenAI-compatible servers do.
struct Common {
  std::string model;
  bool stream = false;
  bool include_usage = false;
  llm::GenerateRequest gen;
};

Result<double> Number(const Json& body, const char* key, double def) {
  if (!body.contains(key) || body[key].is_null()) return def;
  if (!body[key].is_number()) return Status::BadRequest(std::string(key) + " must be a number");
  return body[key].get<double>();
}

Result<Common> ParseCommon(const Json& body, bool chat) {
  Common c;
  if (!body.contains("model") || !body["model"].is_string() || body["model"].get<std::string>().empty()) {
    return Status::BadRequest("model is required: the name of a deployment");
  }
  c.model = body["model"].get<std::string>();
  for (const char* unsupported : {"tools", "functions", "tool_choice", "suffix", "best_of"}) {
    if (body.contains(unsupported) && !body[unsupported].is_null()) {
      return Status::BadRequest(std::string(unsupported) + " is not supported");
    }
  }
  if (body.contains("response_format") && body["response_format"].is_object() &&
      body["response_format"].value("type", "text") != "text") {
    return Status::BadRequest("response_format other than text is not supported");
  }
  if (body.contains("n") && !body["n"].is_null() && body["n"] != 1) return Status::BadRequest("n must be 1");
  if (body.contains("stream") && !body["stream"].is_null()) {
    if (!body["stream"].is_boolean()) return Status::BadRequest("stream must be true or false");
    c.stream = body["stream"].get<bool>();
  }
  if (body.contains("stream_options") && body["stream_options"].is_object()) {
    c.include_usage = body["stream_options"].value("include_usage", false);
  }
  auto& s = c.gen.sampling;
  AIMASS_ASSIGN_OR_RETURN(s.temperature, Number(body, "temperature", 1.0));
  AIMASS_ASSIGN_OR_RETURN(s.top_p, Number(body, "top_p", 1.0));
  AIMASS_ASSIGN_OR_RETURN(s.presence_penalty, Number(body, "presence_penalty", 0.0));
  AIMASS_ASSIGN_OR_RETURN(s.frequency_penalty, Number(body, "frequency_penalty", 0.0));
  AIMASS_ASSIGN_OR_RETURN(s.repetition_penalty, Number(body, "repetition_penalty", 1.0));
  if (body.contains("top_k") && !body["top_k"].is_null()) {
    if (!body["top_k"].is_number_integer() || body["top_k"].get<int64_t>() < -1) {
      return Status::BadRequest("top_k must be an integer, -1 or 0 for all tokens");
    }
    s.top_k = std::max<int64_t>(0, body["top_k"].get<int64_t>());
  }
  if (body.contains("seed") && !body["seed"].is_null()) {
    if (!body["seed"].is_number_integer()) return Status::BadRequest("seed must be an integer");
    s.seed = static_cast<uint64_t>(body["seed"].get<int64_t>());
  }
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (!body.contains(key) || body[key].is_null()) continue;
    if (!body[key].is_number_integer() || body[key].get<int64_t>() < 1) {
      return Status::BadRequest(std::string(key) + " must be a positive integer");
    }
    c.gen.max_tokens = body[key].get<int64_t>();
  }
  if (!chat && c.gen.max_tokens == 0) c.gen.max_tokens = 16;  // OpenAI's default for completions
  if (body.contains("stop") && !body["stop"].is_null()) {
    const Json& stop = body["stop"];
    if (stop.is_string()) {
      c.gen.stop.push_back(stop.get<std::string>());
    } else if (stop.is_array() && stop.size() <= 4) {
      for (const auto& x : stop) {
        if (!x.is_string()) return Status::BadRequest("stop must be a string or up to 4 strings");
        c.gen.stop.push_back(x.get<std::string>());
      }
    } else {
      return Status::BadRequest("stop must be a string or up to 4 strings");
    }
  }
  if (body.contains("ignore_eos") && body["ignore_eos"].is_boolean()) c.gen.ignore_eos = body["ignore_eos"].get<bool>();
  if (chat) {
    if (body.contains("logprobs") && body["logprobs"].is_boolean() && body["logprobs"].get<bool>()) s.top_logprobs = 0;
    if (body.contains("top_logprobs") && !body["top_logprobs"].is_null()) {
      if (!body["top_logprobs"].is_number_integer() || body["top_logprobs"].get<int64_t>() < 0 ||
          body["top_logprobs"].get<int64_t>() > 20) {
        return Status::BadRequest("top_logprobs must be an integer from 0 to 20");
      }
      if (s.top_logprobs < 0) return Status::BadRequest("top_logprobs needs logprobs: true");
      s.top_logprobs = static_cast<int>(body["top_logprobs"].get<int64_t>());
    }
  } else if (body.contains("logprobs") && !body["logprobs"].is_null()) {
    if (!body["logprobs"].is_number_integer() || body["logprobs"].get<int64_t>() < 0 || body["logprobs"].get<int64_t>() > 20) {
      return Status::BadRequest("logprobs must be an integer from 0 to 20");
    }
    s.top_logprobs = static_cast<int>(body["logprobs"].get<int64_t>());
  }
  AIMASS_RETURN_IF_ERROR(s.Validate());
  return c;
}

Result<std::vector<llm::ChatMessage>> ParseMessages(const Json& body) {
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
    return Status::BadRequest("messages must be a non-empty array");
  }
  std::vector<llm::ChatMessage> out;
  for (size_t i = 0; i < body["messages"].size(); ++i) {
    const Json& m = body["messages"][i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) return Status::BadRequest(where + ".role is required");
    llm::ChatMessage msg;
    msg.role = m["role"].get<std::string>();
    if (msg.role == "developer") msg.role = "system";
    const Json content = m.contains("content") ? m["content"] : Json();
    if (content.is_string()) {
      msg.content = content.get<std::string>();
    } else if (content.is_array()) {
      for (const auto& part : content) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string()) {
          return Status::BadRequest(where + ".content: only text parts are supported");
        }
        msg.content += part["text"].get<std::string>();
      }
    } else {
      return Status::BadRequest(where + ".content must be a string or an array of text parts");
    }
    out.push_back(std::move(msg));
  }
  return out;
}

// The prompt of /v1/completions: a string, a list of token ids, or a list of one of either.
Result<std::vector<int>> ParsePrompt(const Json& body, const llm::Tokenizer& tok) {
  if (!body.contains("prompt")) return Status::BadRequest("prompt is required");
  Json p = body["prompt"];
  if (p.is_array() && p.size() == 1 && (p[0].is_string() || p[0].is_array())) p = p[0];
  if (p.is_string()) {
    std::vector<int> ids;
    if (tok.bos() >= 0) ids.push_back(tok.bos());
    auto text = tok.Encode(p.get<std::string>());
    ids.insert(ids.end(), text.begin(), text.end());
    return ids;
  }
  if (p.is_array() && !p.empty()) {
    std::vector<int> ids;
    for (const auto& x : p) {
      if (!x.is_number_integer()) return Status::BadRequest("prompt must be a string or a list of token ids (one prompt)");
      ids.push_back(static_cast<int>(x.get<int64_t>()));
    }
    return ids;
  }
  return Status::BadRequest("prompt must be a string or a list of token ids (one prompt)");
}

std::string TokenText(const llm::Tokenizer& tok, int id) {
  std::string piece = tok.Piece(id);
  // SentencePiece marks a word's leading space with U+2581.
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, 3, "\xE2\x96\x81") == 0) {
      out.push_back(' ');
      i += 3;
    } else {
      out.push_back(piece[i++]);
    }
  }
  return out;
}

Json Bytes(const std::string& s) {
  Json a = Json::array();
  for (unsigned char c : s) a.push_back(static_cast<int>(c));
  return a;
}

// Logprobs of chat completions: {"content":[{"token","logprob","bytes","top_logprobs":[…]}]}.
Json ChatLogprobs(const llm::Tokenizer& tok, const std::vector<llm::Sampled>& tokens) {
  Json content = Json::array();
  for (const auto& t : tokens) {
    Json top = Json::array();
    for (const auto& a : t.top) {
      const std::string text = TokenText(tok, a.token);
      top.push_back({{"token", text}, {"logprob", a.logprob}, {"bytes", Bytes(text)}});
    }
    const std::string text = TokenText(tok, t.token);
    content.push_back({{"token", text}, {"logprob", t.logprob}, {"bytes", Bytes(text)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

// Logprobs of completions: {"tokens","token_logprobs","top_logprobs":[{token: logprob}],"text_offset"}.
Json CompletionLogprobs(const llm::Tokenizer& tok, const std::vector<llm::Sampled>& tokens, size_t offset) {
  Json texts = Json::array(), lps = Json::array(), tops = Json::array(), offsets = Json::array();
  for (const auto& t : tokens) {
    const std::string text = TokenText(tok, t.token);
    texts.push_back(text);
    lps.push_back(t.logprob);
    Json top = Json::object();
    for (const auto& a : t.top) top[TokenText(tok, a.token)] = a.logprob;
    tops.push_back(top);
    offsets.push_back(offset);
    offset += text.size();
  }
  return {{"tokens", texts}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

Json Usage(int64_t prompt, int64_t completion) {
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

std::string Sse(const Json& j) { return "data: " + j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n\n"; }

// One generation from its parsed request to its answer (whole or streamed).
struct Generation {
  bool chat = true;
  bool stream = false;
  bool include_usage = false;
  bool echo = false;
  std::string echo_text;
  std::string id;
  std::string model;
  int64_t created = 0;
  int64_t version = 0;
  std::shared_ptr<VersionRunner> runner;
  Serving* serving = nullptr;
  Clock::time_point start;
  uint64_t bytes_in = 0;
  bool logprobs = false;
  // Accumulated (whole answers) or per update (streams).
  std::string text;
  std::vector<llm::Sampled> tokens;
  std::shared_ptr<http::PushStream> events;  // fed from the engine's thread
  std::shared_ptr<http::DeferredResponse> deferred;
  std::string request_id;
  bool role_sent = false;

  const llm::Tokenizer& tok() const { return runner->llm()->model().tokenizer(); }

  Json Chunk(const std::string& delta, const std::vector<llm::Sampled>& toks, const Json& finish) {
    Json choice = {{"index", 0}, {"finish_reason", finish}};
    const bool first = !role_sent;
    role_sent = true;
    if (chat) {
      Json d = Json::object();
      if (first) d["role"] = "assistant";
      if (!delta.empty() || finish.is_null()) d["content"] = delta;
      choice["delta"] = d;
      choice["logprobs"] = logprobs && !toks.empty() ? ChatLogprobs(tok(), toks) : Json(nullptr);
    } else {
      choice["text"] = delta;
      choice["logprobs"] = logprobs && !toks.empty() ? CompletionLogprobs(tok(), toks, 0) : Json(nullptr);
    }
    return {{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", created},
            {"model", model}, {"system_fingerprint", Fingerprint()}, {"choices", Json::array({choice})}};
  }
  std::string Fingerprint() const { return "aimass-" + model + "-v" + std::to_string(version); }

  void OnUpdate(llm::GenerateUpdate&& u) {
    const bool last = u.finish_reason.has_value();
    const bool failed = last && *u.finish_reason == "error";
    if (stream) {
      std::string out;
      // A chunk for new text or tokens (and a chat's first, which names the role).
      if (!failed && (!u.text.empty() || !u.tokens.empty() || (chat && !role_sent))) out += Sse(Chunk(u.text, u.tokens, nullptr));
      if (last) {
        if (failed) {
          out += Sse(ErrorBody(Status::Internal(u.error), request_id));
        } else {
          Json fin = Chunk("", {}, *u.finish_reason);
          fin["usage"] = Usage(u.prompt_tokens, u.completion_tokens);
          out += Sse(fin);
          if (include_usage) {
            Json usage = Chunk("", {}, nullptr);
            usage["choices"] = Json::array();
            usage["usage"] = Usage(u.prompt_tokens, u.completion_tokens);
            out += Sse(usage);
          }
        }
        out += "data: [DONE]\n\n";
        serving->RecordGeneration(model, version, failed ? Status::Internal(u.error) : Status::Ok(), start, bytes_in,
                                  0);
      }
      events->Push(out, last);
      return;
    }
    text += u.text;
    tokens.insert(tokens.end(), u.tokens.begin(), u.tokens.end());
    if (!last) return;
    if (failed) {
      serving->RecordGeneration(model, version, Status::Internal(u.error), start, bytes_in, 0);
      deferred->Complete(OpenAiErrorResponse(Status::Internal(u.error), request_id));
      return;
    }
    Json choice = {{"index", 0}, {"finish_reason", *u.finish_reason}};
    if (chat) {
      choice["message"] = {{"role", "assistant"}, {"content", text}};
      choice["logprobs"] = logprobs ? ChatLogprobs(tok(), tokens) : Json(nullptr);
    } else {
      choice["text"] = echo ? echo_text + text : text;
      choice["logprobs"] = logprobs ? CompletionLogprobs(tok(), tokens, echo ? echo_text.size() : 0) : Json(nullptr);
    }
    Json body = {{"id", id}, {"object", chat ? "chat.completion" : "text_completion"}, {"created", created},
                 {"model", model}, {"system_fingerprint", Fingerprint()}, {"choices", Json::array({choice})},
                 {"usage", Usage(u.prompt_tokens, u.completion_tokens)}};
    Response r = http::JsonResponse(200, body);
    serving->RecordGeneration(model, version, Status::Ok(), start, bytes_in, r.body.size());
    deferred->Complete(std::move(r));
  }
};

Response Generate(Serving& serving, Request& req, bool chat) {
  const auto start = Clock::now();
  auto parsed = http::ParseJsonObject(req);
  if (!parsed.ok()) return OpenAiErrorResponse(parsed.status(), req.request_id);
  const Json& body = *parsed;
  OPENAI_TRY(Common c, ParseCommon(body, chat));
  if (!Serving::MayInvoke(*req.principal, c.model)) {
    return OpenAiErrorResponse(Status::Forbidden("inference:invoke on deployment '" + c.model + "' is required"),
                               req.request_id);
  }
  OPENAI_TRY(Serving::LanguageModelTarget target, serving.PickLanguageModel(c.model));
  LlmRunner& runner = *target.runner->llm();
  const llm::Engine& model = runner.model();
  auto g = std::make_shared<Generation>();
  g->chat = chat;
  g->stream = c.stream;
  g->include_usage = c.include_usage;
  g->model = c.model;
  g->version = target.version;
  g->runner = target.runner;
  g->serving = &serving;
  g->start = start;
  g->bytes_in = req.body.size();
  g->created = UnixNow();
  g->id = (chat ? "chatcmpl-" : "cmpl-") + RandomHex(12);
  g->logprobs = c.gen.sampling.top_logprobs >= 0;
  g->request_id = req.request_id;
  if (chat) {
    OPENAI_TRY(auto messages, ParseMessages(body));
    OPENAI_TRY(c.gen.prompt, model.chat_template().Render(messages, model.tokenizer()));
  } else {
    OPENAI_TRY(c.gen.prompt, ParsePrompt(body, model.tokenizer()));
    if (body.contains("echo") && body["echo"].is_boolean() && body["echo"].get<bool>()) {
      g->echo = true;
      g->echo_text = model.tokenizer().Decode(c.gen.prompt);
    }
  }
  if (c.stream) {
    g->events = std::make_shared<http::PushStream>();
  } else {
    g->deferred = std::make_shared<http::DeferredResponse>();
  }
  OPENAI_TRY(LlmRunner::Handle handle, runner.Submit(std::move(c.gen), [g](llm::GenerateUpdate&& u) { g->OnUpdate(std::move(u)); }));
  Response r;
  if (c.stream) {
    g->events->OnClose([runner = target.runner, handle] { runner->llm()->Cancel(handle); });
    r.headers.Set("Content-Type", "text/event-stream; charset=utf-8");
    r.headers.Set("Cache-Control", "no-cache");
    r.stream = g->events;
    return r;
  }
  // A whole answer is due within the deployment's timeout; past it the sequence stops.
  g->deferred->SetDeadline(target.deadline, [g, handle, runner = target.runner] {
    runner->llm()->Cancel(handle);
    g->deferred->Complete(OpenAiErrorResponse(
        Status::DeadlineExceeded("the generation did not finish within the deployment's timeout_ms (stream it, or "
                                 "raise timeout_ms)"),
        g->request_id));
  });
  // A client that leaves before its whole answer frees the sequence at once, as a stream does.
  g->deferred->OnClientGone([handle, runner = target.runner] { runner->llm()->Cancel(handle); });
  r.deferred = g->deferred;
  return r;
}

}  // namespace

Response OpenAiErrorResponse(const Status& st, std::string_view request_id) {
  Response r = http::JsonResponse(HttpStatus(st.code()), ErrorBody(st, request_id));
  if (st.code() == Code::kUnavailable || st.code() == Code::kRateLimited) r.headers.Set("Retry-After", "1");
  return r;
}

Status RegisterOpenAiRoutes(http::Router& router, Serving& serving) {
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string summary, http::Handler h) -> http::Route& {
    routes.push_back(http::MakeRoute(m, std::move(pattern), "", "serving", std::move(summary), std::move(h)));
    routes.back().error_response = OpenAiErrorResponse;
    return routes.back();
  };
  add(Method::kPost, "/v1/chat/completions",
      "OpenAI-compatible chat completion of a language-model deployment (`model`); `stream: true` for server-sent events",
      [&serving](Request& req) { return Generate(serving, req, true); })
      .audited = false;
  add(Method::kPost, "/v1/completions",
      "OpenAI-compatible text completion of a language-model deployment (`model`); `stream: true` for server-sent events",
      [&serving](Request& req) { return Generate(serving, req, false); })
      .audited = false;
  add(Method::kGet, "/v1/models", "OpenAI-compatible list of the language-model deployments the caller may invoke",
      [&serving](Request& req) {
        Json data = Json::array();
        for (const auto& [name, created] : serving.LanguageModels()) {
          if (!Serving::MayInvoke(*req.principal, name)) continue;
          data.push_back({{"id", name}, {"object", "model"}, {"created", created}, {"owned_by", "aimass"}});
        }
        return http::JsonResponse(200, {{"object", "list"}, {"data", data}});
      });
  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::serving
