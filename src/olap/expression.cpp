#include "olap/expression.hpp"

#include <cmath>
#include <cstdlib>
#include <set>

namespace aimass::olap {

struct ExprNode {
  enum class Kind { kNumber, kText, kName, kUnary, kBinary, kCall } kind;
  double number = 0;
  std::string text;  // a text literal, a name, an operator or a function
  std::vector<std::shared_ptr<const ExprNode>> args;
};

namespace {

using Node = std::shared_ptr<const ExprNode>;
constexpr size_t kMaxDepth = 64;
constexpr size_t kMaxText = 4096;

struct Token {
  enum class Kind { kEnd, kNumber, kText, kName, kOp } kind;
  std::string text;
  double number = 0;
};

Result<std::vector<Token>> Tokenize(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; };
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isdigit(static_cast<unsigned char>(c)) || (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      std::string num;
      while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
                              ((s[i] == '-' || s[i] == '+') && (s[i - 1] == 'e' || s[i - 1] == 'E')))) {
        num += s[i++];
      }
      char* end = nullptr;
      const double v = std::strtod(num.c_str(), &end);
      if (end != num.c_str() + num.size()) return Status::BadRequest("'" + num + "' is not a number");
      out.push_back({Token::Kind::kNumber, num, v});
    } else if (c == '\'' || c == '"' || c == '`') {
      AIMASS_ASSIGN_OR_RETURN(std::string t, ReadQuoted(s, &i));
      out.push_back({c == '\'' ? Token::Kind::kText : Token::Kind::kName, t, 0});
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::string w;
      while (i < s.size() && word_char(s[i])) w += s[i++];
      out.push_back({Token::Kind::kName, w, 0});
    } else {
      static const char* kOps[] = {"<=", ">=", "!=", "<>", "==", "<", ">", "=", "+", "-", "*", "/", "(", ")", ","};
      bool found = false;
      for (const char* op : kOps) {
        const std::string_view o(op);
        if (s.substr(i, o.size()) == o) {
          out.push_back({Token::Kind::kOp, std::string(o), 0});
          i += o.size();
          found = true;
          break;
        }
      }
      if (!found) return Status::BadRequest(std::string("unexpected '") + c + "' in the expression");
    }
  }
  out.push_back({Token::Kind::kEnd, "", 0});
  return out;
}

bool Lower(const std::string& a, const char* b) {
  if (a.size() != std::char_traits<char>::length(b)) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> t) : t_(std::move(t)) {}

  Result<Node> Whole() {
    AIMASS_ASSIGN_OR_RETURN(Node n, Or(0));
    if (Peek().kind != Token::Kind::kEnd) return Status::BadRequest("unexpected '" + Peek().text + "' in the expression");
    return n;
  }

 private:
  const Token& Peek() const { return t_[pos_]; }
  bool IsOp(const char* op) const { return Peek().kind == Token::Kind::kOp && Peek().text == op; }
  bool IsWord(const char* w) const { return Peek().kind == Token::Kind::kName && Lower(Peek().text, w); }

  static Node Make(ExprNode::Kind k, std::string text, std::vector<Node> args) {
    auto n = std::make_shared<ExprNode>();
    n->kind = k;
    n->text = std::move(text);
    n->args = std::move(args);
    return n;
  }

  Status Deep(size_t depth) const {
    return depth > kMaxDepth ? Status::BadRequest("the expression nests too deeply") : Status::Ok();
  }

  Result<Node> Or(size_t d) {
    AIMASS_RETURN_IF_ERROR(Deep(d));
    AIMASS_ASSIGN_OR_RETURN(Node l, And(d + 1));
    while (IsWord("or")) {
      ++pos_;
      AIMASS_ASSIGN_OR_RETURN(Node r, And(d + 1));
      l = Make(ExprNode::Kind::kBinary, "or", {l, r});
    }
    return l;
  }
  Result<Node> And(size_t d) {
    AIMASS_ASSIGN_OR_RETURN(Node l, Not(d + 1));
    while (IsWord("and")) {
      ++pos_;
      AIMASS_ASSIGN_OR_RETURN(Node r, Not(d + 1));
      l = Make(ExprNode::Kind::kBinary, "and", {l, r});
    }
    return l;
  }
  Result<Node> Not(size_t d) {
    AIMASS_RETURN_IF_ERROR(Deep(d));
    if (IsWord("not")) {
      ++pos_;
      AIMASS_ASSIGN_OR_RETURN(Node x, Not(d + 1));
      return Make(ExprNode::Kind::kUnary, "not", {x});
    }
    return Compare(d + 1);
  }
  Result<Node> Compare(size_t d) {
    AIMASS_ASSIGN_OR_RETURN(Node l, Add(d + 1));
    for (const char* op : {"<=", ">=", "!=", "<>", "==", "<", ">", "="}) {
      if (IsOp(op)) {
        ++pos_;
        AIMASS_ASSIGN_OR_RETURN(Node r, Add(d + 1));
        std::string o = op;
        if (o == "==") o = "=";
        if (o == "<>") o = "!=";
        return Make(ExprNode::Kind::kBinary, o, {l, r});
      }
    }
    return l;
  }
  Result<Node> Add(size_t d) {
    AIMASS_ASSIGN_OR_RETURN(Node l, Mul(d + 1));
    while (IsOp("+") || IsOp("-")) {
      std::string op = Peek().text;
      ++pos_;
      AIMASS_ASSIGN_OR_RETURN(Node r, Mul(d + 1));
      l = Make(ExprNode::Kind::kBinary, op, {l, r});
    }
    return l;
  }
  Result<Node> Mul(size_t d) {
    AIMASS_ASSIGN_OR_RETURN(Node l, Unary(d + 1));
    while (IsOp("*") || IsOp("/")) {
      std::string op = Peek().text;
      ++pos_;
      AIMASS_ASSIGN_OR_RETURN(Node r, Unary(d + 1));
      l = Make(ExprNode::Kind::kBinary, op, {l, r});
    }
    return l;
  }
  Result<Node> Unary(size_t d) {
    AIMASS_RETURN_IF_ERROR(Deep(d));
    if (IsOp("-")) {
      ++pos_;
      AIMASS_ASSIGN_OR_RETURN(Node x, Unary(d + 1));
      return Make(ExprNode::Kind::kUnary, "-", {x});
    }
    return Primary(d + 1);
  }
  Result<Node> Primary(size_t d) {
    const Token t = Peek();
    switch (t.kind) {
      case Token::Kind::kNumber: {
        ++pos_;
        auto n = std::make_shared<ExprNode>();
        n->kind = ExprNode::Kind::kNumber;
        n->number = t.number;
        return Node(n);
      }
      case Token::Kind::kText: ++pos_; return Make(ExprNode::Kind::kText, t.text, {});
      case Token::Kind::kName: {
        ++pos_;
        if (!IsOp("(")) return Make(ExprNode::Kind::kName, t.text, {});
        ++pos_;
        std::string f;
        for (const char* known : {"abs", "if", "coalesce", "is_null"}) {
          if (Lower(t.text, known)) f = known;
        }
        if (f.empty()) return Status::BadRequest("unknown function '" + t.text + "': abs, if, coalesce, is_null");
        std::vector<Node> args;
        if (!IsOp(")")) {
          for (;;) {
            AIMASS_ASSIGN_OR_RETURN(Node a, Or(d + 1));
            args.push_back(a);
            if (IsOp(",")) {
              ++pos_;
              continue;
            }
            break;
          }
        }
        if (!IsOp(")")) return Status::BadRequest("a ')' is missing after " + f + "'s arguments");
        ++pos_;
        const size_t want = f == "if" ? 3 : f == "coalesce" ? 2 : 1;
        if (args.size() != want) return Status::BadRequest(f + " takes " + std::to_string(want) + " argument(s)");
        return Make(ExprNode::Kind::kCall, f, std::move(args));
      }
      case Token::Kind::kOp:
        if (t.text == "(") {
          ++pos_;
          AIMASS_ASSIGN_OR_RETURN(Node x, Or(d + 1));
          if (!IsOp(")")) return Status::BadRequest("a ')' is missing");
          ++pos_;
          return x;
        }
        return Status::BadRequest("unexpected '" + t.text + "' in the expression");
      case Token::Kind::kEnd: return Status::BadRequest("the expression ends too soon");
    }
    return Status::BadRequest("bad expression");
  }

  std::vector<Token> t_;
  size_t pos_ = 0;
};

void CollectNames(const ExprNode& n, std::vector<std::string>* out, std::set<std::string>* seen) {
  if (n.kind == ExprNode::Kind::kName && seen->insert(n.text).second) out->push_back(n.text);
  for (const auto& a : n.args) CollectNames(*a, out, seen);
}

struct Vec {
  std::vector<double> v;
  std::vector<uint8_t> ok;
};

double Apply(const std::string& op, double a, double b, bool* ok) {
  switch (op[0]) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    case '/':
      if (b == 0) *ok = false;
      return b == 0 ? 0 : a / b;
    case '=': return a == b;
    case '!': return a != b;
    case '<': return op.size() == 2 ? a <= b : a < b;
    case '>': return op.size() == 2 ? a >= b : a > b;
    case 'a': return (a != 0) && (b != 0);
    case 'o': return (a != 0) || (b != 0);
  }
  return 0;
}

bool IsTextCompare(const ExprNode& n) {
  return n.kind == ExprNode::Kind::kBinary && (n.text == "=" || n.text == "!=") &&
         (n.args[0]->kind == ExprNode::Kind::kText || n.args[1]->kind == ExprNode::Kind::kText);
}

Status Eval(const ExprNode& n, const ExprSource& src, Vec* out) {
  const size_t rows = src.rows();
  switch (n.kind) {
    case ExprNode::Kind::kNumber:
      out->v.assign(rows, n.number);
      out->ok.assign(rows, 1);
      return Status::Ok();
    case ExprNode::Kind::kText: return Status::BadRequest("'" + n.text + "' is text: text is only compared with = or !=");
    case ExprNode::Kind::kName: return src.Numbers(n.text, &out->v, &out->ok);
    case ExprNode::Kind::kUnary: {
      AIMASS_RETURN_IF_ERROR(Eval(*n.args[0], src, out));
      for (auto& x : out->v) x = n.text == "-" ? -x : (x == 0 ? 1 : 0);
      return Status::Ok();
    }
    case ExprNode::Kind::kBinary: {
      if (IsTextCompare(n)) {
        const bool left_text = n.args[0]->kind == ExprNode::Kind::kText;
        const ExprNode& lit = *n.args[left_text ? 0 : 1];
        const ExprNode& other = *n.args[left_text ? 1 : 0];
        if (other.kind != ExprNode::Kind::kName) return Status::BadRequest("'" + lit.text + "' can only be compared with a column");
        std::vector<std::string> texts;
        AIMASS_RETURN_IF_ERROR(src.Texts(other.text, &texts, &out->ok));
        out->v.resize(rows);
        for (size_t i = 0; i < rows; ++i) out->v[i] = (texts[i] == lit.text) == (n.text == "=");
        return Status::Ok();
      }
      Vec r;
      AIMASS_RETURN_IF_ERROR(Eval(*n.args[0], src, out));
      AIMASS_RETURN_IF_ERROR(Eval(*n.args[1], src, &r));
      for (size_t i = 0; i < rows; ++i) {
        bool ok = out->ok[i] && r.ok[i];
        out->v[i] = Apply(n.text, out->v[i], r.v[i], &ok);
        out->ok[i] = ok;
      }
      return Status::Ok();
    }
    case ExprNode::Kind::kCall: {
      AIMASS_RETURN_IF_ERROR(Eval(*n.args[0], src, out));
      if (n.text == "abs") {
        for (auto& x : out->v) x = std::fabs(x);
      } else if (n.text == "is_null") {
        for (size_t i = 0; i < rows; ++i) out->v[i] = out->ok[i] ? 0 : 1, out->ok[i] = 1;
      } else if (n.text == "coalesce") {
        Vec b;
        AIMASS_RETURN_IF_ERROR(Eval(*n.args[1], src, &b));
        for (size_t i = 0; i < rows; ++i) {
          if (!out->ok[i]) out->v[i] = b.v[i], out->ok[i] = b.ok[i];
        }
      } else {  // if(c, a, b): a null condition is false
        Vec a, b;
        AIMASS_RETURN_IF_ERROR(Eval(*n.args[1], src, &a));
        AIMASS_RETURN_IF_ERROR(Eval(*n.args[2], src, &b));
        for (size_t i = 0; i < rows; ++i) {
          const bool c = out->ok[i] && out->v[i] != 0;
          out->v[i] = c ? a.v[i] : b.v[i];
          out->ok[i] = c ? a.ok[i] : b.ok[i];
        }
      }
      return Status::Ok();
    }
  }
  return Status::Internal("bad expression node");
}

std::optional<double> Scalar(const ExprNode& n, const std::vector<std::pair<std::string, std::optional<double>>>& names) {
  switch (n.kind) {
    case ExprNode::Kind::kNumber: return n.number;
    case ExprNode::Kind::kText: return std::nullopt;
    case ExprNode::Kind::kName:
      for (const auto& [k, v] : names) {
        if (k == n.text) return v;
      }
      return std::nullopt;
    case ExprNode::Kind::kUnary: {
      auto x = Scalar(*n.args[0], names);
      if (!x) return x;
      return n.text == "-" ? -*x : (*x == 0 ? 1.0 : 0.0);
    }
    case ExprNode::Kind::kBinary: {
      auto a = Scalar(*n.args[0], names), b = Scalar(*n.args[1], names);
      if (!a || !b) return std::nullopt;
      bool ok = true;
      const double v = Apply(n.text, *a, *b, &ok);
      if (!ok) return std::nullopt;
      return v;
    }
    case ExprNode::Kind::kCall: {
      auto a = Scalar(*n.args[0], names);
      if (n.text == "abs") return a ? std::optional<double>(std::fabs(*a)) : std::nullopt;
      if (n.text == "is_null") return a ? 0.0 : 1.0;
      if (n.text == "coalesce") return a ? a : Scalar(*n.args[1], names);
      return (a && *a != 0) ? Scalar(*n.args[1], names) : Scalar(*n.args[2], names);
    }
  }
  return std::nullopt;
}

}  // namespace

Result<std::string> ReadQuoted(std::string_view s, size_t* at) {
  const char q = s[*at];
  std::string t;
  for (size_t i = *at + 1;; ++i) {
    if (i >= s.size()) return Status::BadRequest(std::string("a ") + q + " is not closed");
    if (s[i] != q) {
      t += s[i];
    } else if (i + 1 < s.size() && s[i + 1] == q) {  // doubled quote: the quote itself
      t += q;
      ++i;
    } else {
      *at = i + 1;
      return t;
    }
  }
}

Result<Expression> Expression::Parse(std::string_view text) {
  if (text.size() > kMaxText) return Status::BadRequest("an expression is at most 4096 bytes");
  AIMASS_ASSIGN_OR_RETURN(auto tokens, Tokenize(text));
  if (tokens.size() == 1) return Status::BadRequest("the expression is empty");
  Parser p(std::move(tokens));
  AIMASS_ASSIGN_OR_RETURN(Node root, p.Whole());
  Expression e;
  e.root_ = std::move(root);
  e.text_ = std::string(text);
  return e;
}

std::vector<std::string> Expression::Names() const {
  std::vector<std::string> out;
  std::set<std::string> seen;
  if (root_) CollectNames(*root_, &out, &seen);
  return out;
}

Status Expression::Evaluate(const ExprSource& source, std::vector<double>* values, std::vector<uint8_t>* valid) const {
  Vec v;
  AIMASS_RETURN_IF_ERROR(Eval(*root_, source, &v));
  for (size_t i = 0; i < v.v.size(); ++i) {
    if (v.ok[i] && !std::isfinite(v.v[i])) v.ok[i] = 0;
  }
  *values = std::move(v.v);
  *valid = std::move(v.ok);
  return Status::Ok();
}

std::optional<double> Expression::EvaluateScalar(const std::vector<std::pair<std::string, std::optional<double>>>& names) const {
  auto v = Scalar(*root_, names);
  if (v && !std::isfinite(*v)) return std::nullopt;
  return v;
}

}  // namespace aimass::olap
