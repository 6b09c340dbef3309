#include "registry/search.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>

namespace aimass::registry {

namespace {

enum class Tok { kEnd, kIdent, kString, kNumber, kOp, kLParen, kRParen };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;
  size_t pos = 0;
};

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Result<Token> Next() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
    Token t;
    t.pos = i_;
    if (i_ >= s_.size()) return t;
    char c = s_[i_];
    if (c == '(') { ++i_; t.kind = Tok::kLParen; return t; }
    if (c == ')') { ++i_; t.kind = Tok::kRParen; return t; }
    if (c == '\'' || c == '"') {
      char quote = c;
      ++i_;
      std::string text;
      while (i_ < s_.size()) {
        if (s_[i_] == quote) {
          if (i_ + 1 < s_.size() && s_[i_ + 1] == quote) {  // '' is a quote inside
            text.push_back(quote);
            i_ += 2;
            continue;
          }
          ++i_;
          t.kind = Tok::kString;
          t.text = std::move(text);
          return t;
        }
        text.push_back(s_[i_++]);
      }
      return Error(t.pos, "unterminated string");
    }
    if (c == '=' || c == '!' || c == '<' || c == '>') {
      std::string op(1, c);
      ++i_;
      if (i_ < s_.size() && s_[i_] == '=') op.push_back(s_[i_++]);
      if (op == "!") return Error(t.pos, "'!' must be followed by '='");
      t.kind = Tok::kOp;
      t.text = op;
      return t;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.') {
      size_t start = i_;
      ++i_;
      while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' ||
                                s_[i_] == '-' || s_[i_] == '+' || s_[i_] == ':')) {
        ++i_;
      }
      t.kind = Tok::kNumber;
      t.text = std::string(s_.substr(start, i_ - start));
      return t;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t start = i_;
      while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_' ||
                                s_[i_] == '.' || s_[i_] == '-')) {
        ++i_;
      }
      t.kind = Tok::kIdent;
      t.text = std::string(s_.substr(start, i_ - start));
      if (IEquals(t.text, "LIKE")) t.kind = Tok::kOp;
      return t;
    }
    return Error(t.pos, std::string("unexpected character '") + c + "'");
  }

  static Status Error(size_t pos, const std::string& what) {
    return Status::BadRequest("filter, at " + std::to_string(pos) + ": " + what);
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

// Unix seconds from a number or "YYYY-MM-DD[THH:MM:SS[Z]]".
bool ParseTime(const std::string& s, int64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec == std::errc() && p == s.data() + s.size()) return true;
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) {
    tm = {};
    end = strptime(s.c_str(), "%Y-%m-%d", &tm);
  }
  if (!end || !(*end == '\0' || (*end == 'Z' && end[1] == '\0'))) return false;
  out = static_cast<int64_t>(timegm(&tm));
  return true;
}

bool ParseNumber(const std::string& s, double& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ValidMetricKey(std::string_view k) {
  if (k.empty() || k.size() > 64) return false;
  for (char c : k) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

class Parser {
 public:
  explicit Parser(std::string_view s) : lex_(s) {}

  Result<CompiledFilter> Parse() {
    AIMASS_RETURN_IF_ERROR(Advance());
    AIMASS_ASSIGN_OR_RETURN(std::string where, Or(0));
    if (tok_.kind != Tok::kEnd) return Lexer::Error(tok_.pos, "unexpected '" + tok_.text + "'");
    return CompiledFilter{std::move(where), std::move(params_)};
  }

 private:
  Status Advance() {
    auto t = lex_.Next();
    if (!t.ok()) return t.status();
    tok_ = std::move(*t);
    return Status::Ok();
  }
  bool IsKeyword(const char* k) const { return tok_.kind == Tok::kIdent && IEquals(tok_.text, k); }

  // A chain of ORs (or ANDs) becomes one flat group, not one parenthesis per operator:
  // SQLite's parser has a fixed stack (a long chain of nested groups overflowed it, found by
  // fuzz/search_filter_fuzz.cpp), so nesting grows only with the filter's own parentheses.
  static std::string Group(const std::vector<std::string>& terms, const char* op) {
    if (terms.size() == 1) return terms[0];
    std::string out = "(";
    for (size_t i = 0; i < terms.size(); ++i) {
      if (i) out += op;
      out += terms[i];
    }
    return out + ")";
  }

  Result<std::string> Or(int depth) {
    std::vector<std::string> terms;
    AIMASS_ASSIGN_OR_RETURN(std::string first, And(depth));
    terms.push_back(std::move(first));
    while (IsKeyword("OR")) {
      AIMASS_RETURN_IF_ERROR(Advance());
      AIMASS_ASSIGN_OR_RETURN(std::string next, And(depth));
      terms.push_back(std::move(next));
    }
    return Group(terms, " OR ");
  }

  Result<std::string> And(int depth) {
    std::vector<std::string> terms;
    AIMASS_ASSIGN_OR_RETURN(std::string first, Unary(depth));
    terms.push_back(std::move(first));
    while (IsKeyword("AND")) {
      AIMASS_RETURN_IF_ERROR(Advance());
      AIMASS_ASSIGN_OR_RETURN(std::string next, Unary(depth));
      terms.push_back(std::move(next));
    }
    return Group(terms, " AND ");
  }

  Result<std::string> Unary(int depth) {
    if (depth > kMaxDepth) return Lexer::Error(tok_.pos, "nested too deeply");
    if (IsKeyword("NOT")) {
      AIMASS_RETURN_IF_ERROR(Advance());
      AIMASS_ASSIGN_OR_RETURN(std::string inner, Unary(depth + 1));
      return "(NOT " + inner + ")";
    }
    if (tok_.kind == Tok::kLParen) {
      AIMASS_RETURN_IF_ERROR(Advance());
      AIMASS_ASSIGN_OR_RETURN(std::string inner, Or(depth + 1));
      if (tok_.kind != Tok::kRParen) return Lexer::Error(tok_.pos, "expected ')'");
      AIMASS_RETURN_IF_ERROR(Advance());
      return inner;
    }
    return Comparison();
  }

  Result<std::string> Comparison() {
    if (++comparisons_ > kMaxComparisons) return Lexer::Error(tok_.pos, "more than 100 comparisons");
    if (tok_.kind != Tok::kIdent) return Lexer::Error(tok_.pos, "expected a field name");
    std::string field = tok_.text;
    size_t field_pos = tok_.pos;
    AIMASS_RETURN_IF_ERROR(Advance());
    if (tok_.kind != Tok::kOp) return Lexer::Error(tok_.pos, "expected an operator after '" + field + "'");
    std::string op = IEquals(tok_.text, "LIKE") ? "LIKE" : tok_.text;
    AIMASS_RETURN_IF_ERROR(Advance());
    if (tok_.kind != Tok::kString && tok_.kind != Tok::kNumber) {
      return Lexer::Error(tok_.pos, "expected a value ('text' or a number)");
    }
    Token value = tok_;
    AIMASS_RETURN_IF_ERROR(Advance());
    return Compile(field, field_pos, op, value);
  }

  Result<std::string> Compile(const std::string& field, size_t pos, const std::string& op,
                              const Token& value) {
    bool ordering = op == "<" || op == "<=" || op == ">" || op == ">=";
    std::string sql_op = op == "!=" ? "<>" : op;
    auto text_column = [&](const char* column) -> Result<std::string> {
      if (ordering) return Lexer::Error(pos, "'" + field + "' takes =, != or LIKE");
      params_.emplace_back(value.text);
      return std::string(column) + " " + sql_op + " ?";
    };
    if (IEquals(field, "name")) return text_column("m.name");
    if (IEquals(field, "task")) return text_column("m.task");
    if (IEquals(field, "owner")) return text_column("m.owner");
    if (IEquals(field, "framework")) return text_column("v.framework");
    if (IEquals(field, "status")) return text_column("v.status");
    if (IEquals(field, "tag") || IEquals(field, "tags")) {
      if (op != "=" && op != "!=") return Lexer::Error(pos, "'tag' takes = or !=");
      params_.emplace_back(value.text);
      return std::string("m.id ") + (op == "=" ? "" : "NOT ") +
             "IN (SELECT model_id FROM registry_model_tags WHERE tag = ?)";
    }
    if (IEquals(field, "alias")) {
      if (op != "=" && op != "!=") return Lexer::Error(pos, "'alias' takes = or !=");
      params_.emplace_back(value.text);
      return std::string(op == "=" ? "" : "NOT ") +
             "EXISTS (SELECT 1 FROM registry_aliases a WHERE a.model_id = v.model_id AND "
             "a.version = v.version AND a.alias = ?)";
    }
    if (op == "LIKE") return Lexer::Error(pos, "LIKE applies to text fields");
    if (IEquals(field, "version")) {
      double n = 0;
      // Whole and within int64 (a cast of 1e19 is undefined; found by fuzz_search_filter).
      if (!ParseNumber(value.text, n) || !(n >= -9.0e18 && n <= 9.0e18) || n != std::floor(n)) {
        return Lexer::Error(value.pos, "version takes a whole number");
      }
      params_.emplace_back(static_cast<int64_t>(n));
      return "v.version " + sql_op + " ?";
    }
    if (IEquals(field, "created")) {
      int64_t t = 0;
      if (!ParseTime(value.text, t)) return Lexer::Error(value.pos, "created takes unix seconds or a date");
      params_.emplace_back(t);
      return "v.created_at " + sql_op + " ?";
    }
    if (field.size() > 8 && IEquals(field.substr(0, 8), "metrics.")) {
      std::string key = field.substr(8);
      if (!ValidMetricKey(key)) return Lexer::Error(pos, "invalid metric name");
      double n = 0;
      if (value.kind != Tok::kNumber || !ParseNumber(value.text, n)) {
        return Lexer::Error(value.pos, "metrics compare with numbers");
      }
      // The key is validated above and bound as a parameter, never spliced into the SQL.
      params_.emplace_back("$.\"" + key + "\"");
      params_.emplace_back(n);
      return "json_extract(v.metrics, ?) " + sql_op + " ?";
    }
    return Lexer::Error(pos, "unknown field '" + field.substr(0, 64) + "'");
  }

  static constexpr int kMaxDepth = 24;
  static constexpr int kMaxComparisons = 100;

  Lexer lex_;
  Token tok_;
  std::vector<storage::Value> params_;
  int comparisons_ = 0;
};

}  // namespace

Result<CompiledFilter> CompileFilter(std::string_view filter) {
  if (filter.size() > 4096) return Status::BadRequest("filter is longer than 4096 characters");
  bool blank = true;
  for (char c : filter) blank = blank && std::isspace(static_cast<unsigned char>(c));
  if (blank) return CompiledFilter{"1=1", {}};
  return Parser(filter).Parse();
}

Result<std::string> CompileOrder(std::string_view order_by) {
  std::string s(order_by);
  std::string dir = "DESC";
  if (size_t sp = s.find(' '); sp != std::string::npos) {
    std::string d = s.substr(sp + 1);
    s = s.substr(0, sp);
    if (IEquals(d, "asc")) dir = "ASC";
    else if (!IEquals(d, "desc")) return Status::BadRequest("order_by direction must be asc or desc");
  }
  if (s.empty() || s == "created") return "v.created_at " + dir + ", m.name, v.version " + dir;
  if (s == "version") return "v.version " + dir + ", m.name";
  if (s == "name") return "m.name " + dir + ", v.version DESC";
  if (s.starts_with("metrics.") && ValidMetricKey(s.substr(8))) {
    // Validated key: [A-Za-z0-9_.-] only, so it can sit in the SQL text.
    // Versions without the metric sort as the smallest, on PostgreSQL as on SQLite.
    return "json_extract(v.metrics, '$.\"" + s.substr(8) + "\"') " + dir + (dir == "ASC" ? " NULLS FIRST" : " NULLS LAST") +
           ", m.name, v.version";
  }
  return Status::BadRequest("order_by must be created, version, name or metrics.<key>");
}

}  // namespace aimass::registry
