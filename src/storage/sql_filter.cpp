#include "storage/sql_filter.hpp"

#include <cctype>
#include <charconv>
#include <ctime>

namespace aimass::storage {

Status FilterError(size_t pos, const std::string& what) {
  return Status::BadRequest("filter, at " + std::to_string(pos) + ": " + what);
}

bool FilterIEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

bool ParseFilterNumber(const std::string& s, double& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ParseFilterTime(const std::string& s, int64_t& out) {
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

namespace {

enum class Tok { kEnd, kIdent, kString, kNumber, kOp, kLParen, kRParen };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;
  size_t pos = 0;
};

bool IdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' || c == '/';
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
      return FilterError(t.pos, "unterminated string");
    }
    if (c == '=' || c == '!' || c == '<' || c == '>') {
      std::string op(1, c);
      ++i_;
      if (i_ < s_.size() && s_[i_] == '=') op.push_back(s_[i_++]);
      if (op == "!") return FilterError(t.pos, "'!' must be followed by '='");
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
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '`') {
      // A name, in which `quoted parts` may hold any character but a backquote.
      std::string text;
      while (i_ < s_.size()) {
        if (s_[i_] == '`') {
          size_t close = s_.find('`', i_ + 1);
          if (close == std::string_view::npos) return FilterError(i_, "unterminated `name`");
          if (close == i_ + 1) return FilterError(i_, "empty `name`");
          text.append(s_.substr(i_ + 1, close - i_ - 1));
          i_ = close + 1;
        } else if (IdentChar(s_[i_])) {
          text.push_back(s_[i_++]);
        } else {
          break;
        }
      }
      t.kind = Tok::kIdent;
      t.text = std::move(text);
      if (FilterIEquals(t.text, "LIKE")) t.kind = Tok::kOp;
      return t;
    }
    return FilterError(t.pos, std::string("unexpected character '") + c + "'");
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

class Parser {
 public:
  Parser(std::string_view s, const FieldCompiler& compile) : lex_(s), compile_(compile) {}

  Result<CompiledFilter> Parse() {
    AIMASS_RETURN_IF_ERROR(Advance());
    AIMASS_ASSIGN_OR_RETURN(std::string where, Or(0));
    if (tok_.kind != Tok::kEnd) return FilterError(tok_.pos, "unexpected '" + tok_.text + "'");
    CompiledFilter f{std::move(where), std::move(params_), top_groups_ == 1, {}};
    if (f.conjunctive) {
      for (const auto& t : top_terms_) {
        f.conjuncts.push_back({t.sql, std::vector<Value>(f.params.begin() + static_cast<ptrdiff_t>(t.first_param),
                                                         f.params.begin() + static_cast<ptrdiff_t>(t.end_param)),
                               t.comparison});
      }
    }
    return f;
  }

 private:
  Status Advance() {
    auto t = lex_.Next();
    if (!t.ok()) return t.status();
    tok_ = std::move(*t);
    return Status::Ok();
  }
  bool IsKeyword(const char* k) const { return tok_.kind == Tok::kIdent && FilterIEquals(tok_.text, k); }

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
    if (depth == 0) top_groups_ = terms.size();
    return Group(terms, " OR ");
  }

  Result<std::string> And(int depth) {
    std::vector<std::string> terms;
    if (depth == 0) top_terms_.clear();
    for (;;) {
      size_t first_param = params_.size();
      bool comparison = tok_.kind == Tok::kIdent && !IsKeyword("NOT");
      AIMASS_ASSIGN_OR_RETURN(std::string next, Unary(depth));
      if (depth == 0) top_terms_.push_back({next, first_param, params_.size(), comparison});
      terms.push_back(std::move(next));
      if (!IsKeyword("AND")) break;
      AIMASS_RETURN_IF_ERROR(Advance());
    }
    return Group(terms, " AND ");
  }

  Result<std::string> Unary(int depth) {
    if (depth > kMaxDepth) return FilterError(tok_.pos, "nested too deeply");
    if (IsKeyword("NOT")) {
      AIMASS_RETURN_IF_ERROR(Advance());
      AIMASS_ASSIGN_OR_RETURN(std::string inner, Unary(depth + 1));
      return "(NOT " + inner + ")";
    }
    if (tok_.kind == Tok::kLParen) {
      AIMASS_RETURN_IF_ERROR(Advance());
      AIMASS_ASSIGN_OR_RETURN(std::string inner, Or(depth + 1));
      if (tok_.kind != Tok::kRParen) return FilterError(tok_.pos, "expected ')'");
      AIMASS_RETURN_IF_ERROR(Advance());
      return inner;
    }
    return Comparison();
  }

  Result<std::string> Comparison() {
    if (++comparisons_ > kMaxComparisons) return FilterError(tok_.pos, "more than 100 comparisons");
    if (tok_.kind != Tok::kIdent) return FilterError(tok_.pos, "expected a field name");
    FilterTerm term;
    term.field = tok_.text;
    term.field_pos = tok_.pos;
    AIMASS_RETURN_IF_ERROR(Advance());
    if (tok_.kind != Tok::kOp) return FilterError(tok_.pos, "expected an operator after '" + term.field.substr(0, 64) + "'");
    term.op = FilterIEquals(tok_.text, "LIKE") ? "LIKE" : tok_.text;
    AIMASS_RETURN_IF_ERROR(Advance());
    if (tok_.kind != Tok::kString && tok_.kind != Tok::kNumber) {
      return FilterError(tok_.pos, "expected a value ('text' or a number)");
    }
    term.value = tok_.text;
    term.value_is_number = tok_.kind == Tok::kNumber;
    term.value_pos = tok_.pos;
    AIMASS_RETURN_IF_ERROR(Advance());
    return compile_(term, params_);
  }

  static constexpr int kMaxDepth = 24;
  static constexpr int kMaxComparisons = 100;

  // The terms of the last AND chain at the top level, and how many OR'd groups it had.
  struct TopTerm {
    std::string sql;
    size_t first_param = 0;
    size_t end_param = 0;
    bool comparison = false;
  };

  Lexer lex_;
  const FieldCompiler& compile_;
  Token tok_;
  std::vector<Value> params_;
  int comparisons_ = 0;
  std::vector<TopTerm> top_terms_;
  size_t top_groups_ = 0;
};

}  // namespace

Result<CompiledFilter> CompileFilter(std::string_view filter, const FieldCompiler& compile) {
  if (filter.size() > 4096) return Status::BadRequest("filter is longer than 4096 characters");
  bool blank = true;
  for (char c : filter) blank = blank && std::isspace(static_cast<unsigned char>(c));
  if (blank) return CompiledFilter{"1=1", {}, true, {}};
  return Parser(filter, compile).Parse();
}

}  // namespace aimass::storage
