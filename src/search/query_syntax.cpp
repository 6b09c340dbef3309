#include "search/query_syntax.hpp"

namespace aimass::search {

namespace {

constexpr int kMaxDepth = 32;
constexpr size_t kMaxParts = 256;

struct Lexeme {
  enum Kind { kWord, kPhrase, kAnd, kOr, kNot, kOpen, kClose, kPlus, kMinus, kEnd } kind;
  std::string text;
  bool glued = false;  // directly followed by a word (for + and -)
};

bool Space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

Result<std::vector<Lexeme>> Lex(std::string_view q) {
  std::vector<Lexeme> out;
  size_t i = 0;
  while (i < q.size()) {
    const char c = q[i];
    if (Space(c)) { ++i; continue; }
    if (c == '(') { out.push_back({Lexeme::kOpen, "("}); ++i; continue; }
    if (c == ')') { out.push_back({Lexeme::kClose, ")"}); ++i; continue; }
    if ((c == '+' || c == '-') && (out.empty() || i == 0 || Space(q[i - 1]) || q[i - 1] == '(') &&
        i + 1 < q.size() && !Space(q[i + 1])) {
      out.push_back({c == '+' ? Lexeme::kPlus : Lexeme::kMinus, std::string(1, c), true});
      ++i;
      continue;
    }
    if (c == '"') {
      size_t j = q.find('"', i + 1);
      if (j == std::string_view::npos) return Status::BadRequest("q: a quote is not closed");
      out.push_back({Lexeme::kPhrase, std::string(q.substr(i + 1, j - i - 1))});
      i = j + 1;
      continue;
    }
    size_t j = i;
    while (j < q.size() && !Space(q[j]) && q[j] != '(' && q[j] != ')' && q[j] != '"') ++j;
    std::string w(q.substr(i, j - i));
    if (w == "AND") out.push_back({Lexeme::kAnd, w});
    else if (w == "OR") out.push_back({Lexeme::kOr, w});
    else if (w == "NOT") out.push_back({Lexeme::kNot, w});
    else out.push_back({Lexeme::kWord, w});
    i = j;
  }
  if (out.size() > kMaxParts) return Status::BadRequest("q: at most " + std::to_string(kMaxParts) + " words");
  out.push_back({Lexeme::kEnd, ""});
  return out;
}

class Parser {
 public:
  Parser(std::vector<Lexeme> lex, bool ends_typing) : lex_(std::move(lex)), ends_typing_(ends_typing) {}

  Result<QueryNode> Parse() {
    AIMASS_ASSIGN_OR_RETURN(QueryNode n, Or(0));
    if (lex_[i_].kind == Lexeme::kClose) return Status::BadRequest("q: a ')' has no '('");
    return n;
  }

 private:
  Result<QueryNode> Or(int depth) {
    if (depth > kMaxDepth) return Status::BadRequest("q: parentheses nest too deep");
    AIMASS_ASSIGN_OR_RETURN(QueryNode left, Group(depth));
    if (lex_[i_].kind != Lexeme::kOr) return left;
    QueryNode n;
    n.kind = QueryNode::kOr;
    n.optional.push_back(std::move(left));
    while (lex_[i_].kind == Lexeme::kOr) {
      ++i_;
      AIMASS_ASSIGN_OR_RETURN(QueryNode right, Group(depth));
      n.optional.push_back(std::move(right));
    }
    return n;
  }

  Result<QueryNode> Group(int depth) {
    QueryNode g;
    g.kind = QueryNode::kGroup;
    for (;;) {
      const Lexeme::Kind k = lex_[i_].kind;
      if (k == Lexeme::kEnd || k == Lexeme::kClose || k == Lexeme::kOr) break;
      std::vector<QueryNode>* into = &g.optional;
      if (k == Lexeme::kAnd || k == Lexeme::kPlus) {
        into = &g.required;
        ++i_;
        // "a AND b": a is required too.
        if (k == Lexeme::kAnd && !g.optional.empty()) {
          g.required.push_back(std::move(g.optional.back()));
          g.optional.pop_back();
        }
      } else if (k == Lexeme::kNot || k == Lexeme::kMinus) {
        into = &g.excluded;
        ++i_;
      }
      AIMASS_ASSIGN_OR_RETURN(std::optional<QueryNode> item, Item(depth));
      if (item) into->push_back(std::move(*item));
    }
    return g;
  }

  Result<std::optional<QueryNode>> Item(int depth) {
    const Lexeme& l = lex_[i_];
    switch (l.kind) {
      case Lexeme::kWord: {
        QueryNode n;
        n.text = l.text;
        n.prefix = ends_typing_ && lex_[i_ + 1].kind == Lexeme::kEnd;
        ++i_;
        return std::optional<QueryNode>(std::move(n));
      }
      case Lexeme::kPhrase: {
        QueryNode n;
        n.kind = QueryNode::kPhrase;
        n.text = l.text;
        ++i_;
        return std::optional<QueryNode>(std::move(n));
      }
      case Lexeme::kOpen: {
        ++i_;
        AIMASS_ASSIGN_OR_RETURN(QueryNode inner, Or(depth + 1));
        if (lex_[i_].kind != Lexeme::kClose) return Status::BadRequest("q: a '(' is not closed");
        ++i_;
        return std::optional<QueryNode>(std::move(inner));
      }
      default:
        // An operator with nothing to apply to ("a AND", "NOT NOT"): skipped.
        if (l.kind != Lexeme::kEnd && l.kind != Lexeme::kClose && l.kind != Lexeme::kOr) ++i_;
        return std::optional<QueryNode>();
    }
  }

  std::vector<Lexeme> lex_;
  size_t i_ = 0;
  bool ends_typing_;
};

}  // namespace

Result<QueryNode> ParseQuery(std::string_view q) {
  AIMASS_ASSIGN_OR_RETURN(std::vector<Lexeme> lex, Lex(q));
  const bool typing = !q.empty() && !Space(q.back()) && q.back() != '"' && q.back() != ')';
  return Parser(std::move(lex), typing).Parse();
}

}  // namespace aimass::search
