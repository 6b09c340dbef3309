#include "search/filter_syntax.hpp"

#include <cctype>

namespace aimass::search {

namespace {

constexpr int kMaxDepth = 32;

FilterNode Node(FilterNode::Kind kind) {
  FilterNode n;
  n.kind = kind;
  return n;
}

class FilterParser {
 public:
  explicit FilterParser(std::string_view s) : s_(s) {}

  Result<FilterNode> Parse() {
    AIMASS_ASSIGN_OR_RETURN(FilterNode n, Or(0));
    Skip();
    if (i_ != s_.size()) return Error("unexpected '" + std::string(s_.substr(i_, 12)) + "'");
    return n;
  }

 private:
  Status Error(const std::string& what) const {
    return Status::BadRequest("filter: " + what + " at character " + std::to_string(i_ + 1));
  }
  void Skip() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  // Consumes keyword `kw` (case-insensitive, as a whole word).
  bool Keyword(std::string_view kw) {
    Skip();
    if (s_.size() - i_ < kw.size()) return false;
    for (size_t k = 0; k < kw.size(); ++k) {
      if (std::toupper(static_cast<unsigned char>(s_[i_ + k])) != kw[k]) return false;
    }
    const size_t e = i_ + kw.size();
    if (e < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[e])) || s_[e] == '_' || s_[e] == '.')) return false;
    i_ = e;
    return true;
  }
  bool Char(char c) {
    Skip();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  Result<FilterNode> Or(int depth) {
    if (depth > kMaxDepth) return Error("parentheses nest too deep");
    AIMASS_ASSIGN_OR_RETURN(FilterNode left, And(depth));
    if (!Keyword("OR")) return left;
    FilterNode n = Node(FilterNode::kOr);
    n.children.push_back(std::move(left));
    do {
      AIMASS_ASSIGN_OR_RETURN(FilterNode right, And(depth));
      n.children.push_back(std::move(right));
    } while (Keyword("OR"));
    return n;
  }

  Result<FilterNode> And(int depth) {
    AIMASS_ASSIGN_OR_RETURN(FilterNode left, Not(depth));
    if (!Keyword("AND")) return left;
    FilterNode n = Node(FilterNode::kAnd);
    n.children.push_back(std::move(left));
    do {
      AIMASS_ASSIGN_OR_RETURN(FilterNode right, Not(depth));
      n.children.push_back(std::move(right));
    } while (Keyword("AND"));
    return n;
  }

  Result<FilterNode> Not(int depth) {
    if (Keyword("NOT")) {
      if (depth > kMaxDepth) return Error("NOT nests too deep");
      AIMASS_ASSIGN_OR_RETURN(FilterNode inner, Not(depth + 1));
      FilterNode n = Node(FilterNode::kNot);
      n.children.push_back(std::move(inner));
      return n;
    }
    return Primary(depth);
  }

  Result<std::string> Identifier() {
    Skip();
    size_t b = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_' || s_[i_] == '.' ||
                              s_[i_] == '-')) {
      ++i_;
    }
    if (b == i_) return Error("a field name is expected");
    return std::string(s_.substr(b, i_ - b));
  }

  Result<std::string> Value() {
    Skip();
    if (i_ >= s_.size()) return Error("a value is expected");
    const char q = s_[i_];
    if (q == '\'' || q == '"') {
      std::string out;
      for (++i_; i_ < s_.size(); ++i_) {
        if (s_[i_] == '\\' && i_ + 1 < s_.size()) {
          out.push_back(s_[++i_]);
        } else if (s_[i_] == q) {
          ++i_;
          return out;
        } else {
          out.push_back(s_[i_]);
        }
      }
      return Error("a quote is not closed");
    }
    size_t b = i_;
    while (i_ < s_.size() && !std::isspace(static_cast<unsigned char>(s_[i_])) && s_[i_] != ')' && s_[i_] != '(' &&
           s_[i_] != ',' && s_[i_] != ']' && s_[i_] != '[') {
      ++i_;
    }
    if (b == i_) return Error("a value is expected");
    return std::string(s_.substr(b, i_ - b));
  }

  Result<FilterNode> List(FilterNode n) {
    if (!Char('[')) return Error("IN takes a list [a, b, …]");
    if (!Char(']')) {
      do {
        AIMASS_ASSIGN_OR_RETURN(std::string v, Value());
        n.values.push_back(std::move(v));
      } while (Char(','));
      if (!Char(']')) return Error("a list is not closed with ']'");
    }
    return n;
  }

  Result<FilterNode> Primary(int depth) {
    if (Char('(')) {
      AIMASS_ASSIGN_OR_RETURN(FilterNode inner, Or(depth + 1));
      if (!Char(')')) return Error("a '(' is not closed");
      return inner;
    }
    AIMASS_ASSIGN_OR_RETURN(std::string field, Identifier());
    FilterNode n = Node(FilterNode::kCompare);
    n.field = field;
    if (Keyword("EXISTS")) {
      n.kind = FilterNode::kExists;
      return n;
    }
    if (Keyword("IN")) {
      n.kind = FilterNode::kIn;
      return List(std::move(n));
    }
    if (Keyword("NOT")) {
      FilterNode inner = n;
      if (Keyword("EXISTS")) {
        inner.kind = FilterNode::kExists;
      } else if (Keyword("IN")) {
        inner.kind = FilterNode::kIn;
        AIMASS_ASSIGN_OR_RETURN(inner, List(std::move(inner)));
      } else {
        return Error("NOT after a field is followed by IN or EXISTS");
      }
      FilterNode out = Node(FilterNode::kNot);
      out.children.push_back(std::move(inner));
      return out;
    }
    Skip();
    static constexpr std::string_view kOps[] = {"!=", "<=", ">=", "=", "<", ">"};
    for (std::string_view op : kOps) {
      if (s_.substr(i_, op.size()) == op) {
        i_ += op.size();
        n.op = std::string(op);
        AIMASS_ASSIGN_OR_RETURN(std::string v, Value());
        n.values.push_back(std::move(v));
        return n;
      }
    }
    // field A TO B
    AIMASS_ASSIGN_OR_RETURN(std::string from, Value());
    if (!Keyword("TO")) return Error("an operator (=, !=, <, <=, >, >=, IN, EXISTS, TO) is expected after '" + field + "'");
    AIMASS_ASSIGN_OR_RETURN(std::string to, Value());
    n.kind = FilterNode::kRange;
    n.values = {from, to};
    return n;
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

Result<FilterNode> ParseFilter(std::string_view text) {
  if (text.size() > 16384) return Status::BadRequest("filter: longer than 16384 characters");
  return FilterParser(text).Parse();
}

}  // namespace aimass::search
