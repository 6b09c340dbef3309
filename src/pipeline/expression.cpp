#include "pipeline/expression.hpp"

#include <cctype>
#include <charconv>
#include <cmath>

namespace aimass::pipeline {

using nlohmann::json;

namespace {

constexpr int kMaxDepth = 32;

bool IdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

// A number from a JSON number or from text that is one.
bool AsNumber(const json& v, double& out) {
  if (v.is_number()) {
    out = v.get<double>();
    return true;
  }
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

std::string AsText(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

class Parser {
 public:
  Parser(std::string_view s, const json& ctx) : s_(s), ctx_(ctx) {}

  Result<json> Parse() {
    AIMASS_ASSIGN_OR_RETURN(json v, Or(0));
    Skip();
    if (i_ != s_.size()) return Error("unexpected '" + std::string(s_.substr(i_, 16)) + "'");
    return v;
  }

 private:
  Status Error(const std::string& what) const {
    return Status::BadRequest("expression '" + std::string(s_.substr(0, 200)) + "', at " + std::to_string(i_) + ": " + what);
  }
  void Skip() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  // The next word or operator is `w` (a word must end there).
  bool Accept(std::string_view w) {
    Skip();
    if (s_.substr(i_, w.size()) != w) return false;
    if (IdentStart(w[0]) && i_ + w.size() < s_.size() && IdentChar(s_[i_ + w.size()])) return false;
    i_ += w.size();
    return true;
  }

  Result<json> Or(int depth) {
    AIMASS_ASSIGN_OR_RETURN(json left, And(depth));
    while (Accept("||") || Accept("or")) {
      AIMASS_ASSIGN_OR_RETURN(json right, And(depth));
      left = Truthy(left) || Truthy(right);
    }
    return left;
  }
  Result<json> And(int depth) {
    AIMASS_ASSIGN_OR_RETURN(json left, Not(depth));
    while (Accept("&&") || Accept("and")) {
      AIMASS_ASSIGN_OR_RETURN(json right, Not(depth));
      left = Truthy(left) && Truthy(right);
    }
    return left;
  }
  Result<json> Not(int depth) {
    if (depth > kMaxDepth) return Error("nested too deeply");
    Skip();
    if ((i_ < s_.size() && s_[i_] == '!' && (i_ + 1 >= s_.size() || s_[i_ + 1] != '=')) ) {
      ++i_;
      AIMASS_ASSIGN_OR_RETURN(json v, Not(depth + 1));
      return json(!Truthy(v));
    }
    if (Accept("not")) {
      AIMASS_ASSIGN_OR_RETURN(json v, Not(depth + 1));
      return json(!Truthy(v));
    }
    return Compare(depth);
  }
  Result<json> Compare(int depth) {
    AIMASS_ASSIGN_OR_RETURN(json left, Primary(depth));
    for (std::string_view op : {"==", "!=", "<=", ">=", "<", ">"}) {
      if (!Accept(op)) continue;
      AIMASS_ASSIGN_OR_RETURN(json right, Primary(depth));
      double a = 0, b = 0;
      bool numbers = AsNumber(left, a) && AsNumber(right, b);
      if (op == "==" || op == "!=") {
        bool eq = numbers ? a == b : (left.type() == right.type() ? left == right : AsText(left) == AsText(right));
        return json(op == "==" ? eq : !eq);
      }
      int cmp = numbers ? (a < b ? -1 : a > b ? 1 : 0) : AsText(left).compare(AsText(right));
      if (op == "<") return json(cmp < 0);
      if (op == "<=") return json(cmp <= 0);
      if (op == ">") return json(cmp > 0);
      return json(cmp >= 0);
    }
    return left;
  }
  Result<json> Primary(int depth) {
    Skip();
    if (i_ >= s_.size()) return Error("expected a value");
    char c = s_[i_];
    if (c == '(') {
      ++i_;
      AIMASS_ASSIGN_OR_RETURN(json v, Or(depth + 1));
      Skip();
      if (i_ >= s_.size() || s_[i_] != ')') return Error("expected ')'");
      ++i_;
      return v;
    }
    if (c == '\'' || c == '"') {
      size_t close = s_.find(c, i_ + 1);
      if (close == std::string_view::npos) return Error("unterminated text");
      json v = std::string(s_.substr(i_ + 1, close - i_ - 1));
      i_ = close + 1;
      return v;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.') {
      size_t start = i_++;
      while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' || s_[i_] == '-' ||
                                s_[i_] == '+')) {
        ++i_;
      }
      double d = 0;
      std::string_view t = s_.substr(start, i_ - start);
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), d);
      if (ec != std::errc() || p != t.data() + t.size()) return Error("'" + std::string(t) + "' is not a number");
      if (d == std::floor(d) && std::fabs(d) < 9e15) return json(static_cast<int64_t>(d));
      return json(d);
    }
    if (!IdentStart(c)) return Error(std::string("unexpected '") + c + "'");
    size_t start = i_;
    while (i_ < s_.size() && IdentChar(s_[i_])) ++i_;
    std::string word(s_.substr(start, i_ - start));
    if (word == "true") return json(true);
    if (word == "false") return json(false);
    if (word == "null") return json(nullptr);
    // A reference: word(.name | [index])*
    std::string path = word;
    if (!ctx_.contains(word)) return Error("'" + word + "' is not defined (params, steps, item, run, pipeline)");
    const json* at = &ctx_[word];
    for (;;) {
      if (i_ < s_.size() && s_[i_] == '.') {
        ++i_;
        size_t k = i_;
        while (i_ < s_.size() && IdentChar(s_[i_])) ++i_;
        std::string key(s_.substr(k, i_ - k));
        if (key.empty()) return Error("a name must follow '.'");
        path += "." + key;
        if (!at->is_object() || !at->contains(key)) return Error("'" + path + "' is not defined");
        at = &(*at)[key];
      } else if (i_ < s_.size() && s_[i_] == '[') {
        size_t close = s_.find(']', i_);
        if (close == std::string_view::npos) return Error("expected ']'");
        std::string_view t = s_.substr(i_ + 1, close - i_ - 1);
        size_t n = 0;
        auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
        if (ec != std::errc() || p != t.data() + t.size()) return Error("an index is a whole number");
        path += "[" + std::string(t) + "]";
        if (!at->is_array() || n >= at->size()) return Error("'" + path + "' is not defined");
        at = &(*at)[n];
        i_ = close + 1;
      } else {
        break;
      }
    }
    return *at;
  }

  std::string_view s_;
  const json& ctx_;
  size_t i_ = 0;
};

// Calls `each(expr, start, end)` for every ${{ expr }} in `text`; false: one is unterminated.
template <class F>
bool ForEachTemplate(std::string_view text, F each) {
  size_t at = 0;
  for (;;) {
    size_t open = text.find("${{", at);
    if (open == std::string_view::npos) return true;
    size_t close = text.find("}}", open + 3);
    if (close == std::string_view::npos) return false;
    each(text.substr(open + 3, close - open - 3), open, close + 2);
    at = close + 2;
  }
}

void References(std::string_view expr, std::set<std::string>& out) {
  for (size_t at = expr.find("steps."); at != std::string_view::npos; at = expr.find("steps.", at + 6)) {
    if (at > 0 && (IdentChar(expr[at - 1]) || expr[at - 1] == '.')) continue;
    size_t start = at + 6, end = start;
    while (end < expr.size() && IdentChar(expr[end])) ++end;
    if (end > start) out.insert(std::string(expr.substr(start, end - start)));
  }
}

}  // namespace

Result<json> Evaluate(std::string_view expr, const json& context) {
  if (expr.size() > 4096) return Status::BadRequest("an expression is at most 4096 characters");
  return Parser(expr, context).Parse();
}

bool Truthy(const json& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    return !(s.empty() || s == "false" || s == "0");
  }
  return true;  // objects and arrays
}

Result<std::string> RenderText(std::string_view text, const json& context) {
  std::string out;
  size_t copied = 0;
  Status error = Status::Ok();
  bool closed = ForEachTemplate(text, [&](std::string_view expr, size_t start, size_t end) {
    if (!error.ok()) return;
    out.append(text.substr(copied, start - copied));
    auto v = Evaluate(expr, context);
    if (!v.ok()) {
      error = v.status();
      return;
    }
    out += AsText(*v);
    copied = end;
  });
  if (!closed) return Status::BadRequest("'${{' without '}}' in '" + std::string(text.substr(0, 200)) + "'");
  AIMASS_RETURN_IF_ERROR(error);
  out.append(text.substr(copied));
  return out;
}

Result<json> Render(const json& value, const json& context) {
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    std::string_view trimmed(s);
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front()))) trimmed.remove_prefix(1);
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) trimmed.remove_suffix(1);
    if (trimmed.starts_with("${{") && trimmed.ends_with("}}") && trimmed.find("${{", 3) == std::string_view::npos) {
      return Evaluate(trimmed.substr(3, trimmed.size() - 5), context);
    }
    AIMASS_ASSIGN_OR_RETURN(std::string text, RenderText(s, context));
    return json(std::move(text));
  }
  if (value.is_array()) {
    json out = json::array();
    for (const auto& e : value) {
      AIMASS_ASSIGN_OR_RETURN(json v, Render(e, context));
      out.push_back(std::move(v));
    }
    return out;
  }
  if (value.is_object()) {
    json out = json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      AIMASS_ASSIGN_OR_RETURN(out[it.key()], Render(it.value(), context));
    }
    return out;
  }
  return value;
}

std::set<std::string> StepReferences(const json& value, bool bare) {
  std::set<std::string> out;
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    if (bare) {
      References(s, out);
    } else {
      ForEachTemplate(s, [&](std::string_view expr, size_t, size_t) { References(expr, out); });
    }
  } else if (value.is_array() || value.is_object()) {
    for (const auto& e : value) {
      for (auto& r : StepReferences(e, bare)) out.insert(r);
    }
  }
  return out;
}

}  // namespace aimass::pipeline
