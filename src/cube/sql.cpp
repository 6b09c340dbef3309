#include "cube/sql.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include "olap/expression.hpp"

namespace aimass::cube {

using nlohmann::json;

namespace {

constexpr size_t kMaxSql = 16384;

struct Tok {
  enum class Kind { kEnd, kIdent, kQuoted, kString, kNumber, kSym } kind;
  std::string text;
  double number = 0;
};

std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

Result<std::vector<Tok>> Lex(std::string_view s) {
  if (s.size() > kMaxSql) return Status::BadRequest("a SQL statement is at most 16,384 bytes");
  std::vector<Tok> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (c == '\'' || c == '"' || c == '`') {
      AIMASS_ASSIGN_OR_RETURN(std::string t, olap::ReadQuoted(s, &i));
      out.push_back({c == '\'' ? Tok::Kind::kString : Tok::Kind::kQuoted, t});
    } else if (std::isdigit(static_cast<unsigned char>(c)) || (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      size_t j = i;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
                              ((s[j] == '-' || s[j] == '+') && (s[j - 1] == 'e' || s[j - 1] == 'E')))) {
        ++j;
      }
      Tok t{Tok::Kind::kNumber, std::string(s.substr(i, j - i))};
      auto [p, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), t.number);
      if (ec != std::errc() || p != t.text.data() + t.text.size()) return Status::BadRequest("'" + t.text + "' is not a number");
      out.push_back(t);
      i = j;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_' || s[j] == '.')) ++j;
      out.push_back({Tok::Kind::kIdent, std::string(s.substr(i, j - i))});
      i = j;
    } else {
      static const char* kSyms[] = {"<=", ">=", "!=", "<>", "=", "<", ">", "(", ")", ",", "*", ";", "-"};
      bool found = false;
      for (const char* sym : kSyms) {
        const std::string_view v(sym);
        if (s.substr(i, v.size()) == v) {
          out.push_back({Tok::Kind::kSym, std::string(v)});
          i += v.size();
          found = true;
          break;
        }
      }
      if (!found) return Status::BadRequest(std::string("unexpected '") + c + "' in the SQL");
    }
  }
  out.push_back({Tok::Kind::kEnd, ""});
  return out;
}

struct Item {
  std::string name;  // a level or a measure
  std::string func;  // upper-case aggregate written around it, or ""
};

class SqlParser {
 public:
  explicit SqlParser(std::vector<Tok> t) : t_(std::move(t)) {}

  const Tok& Peek(size_t ahead = 0) const { return t_[std::min(pos_ + ahead, t_.size() - 1)]; }
  bool Kw(const char* k) const { return Peek().kind == Tok::Kind::kIdent && Upper(Peek().text) == k; }
  bool Sym(const char* s) const { return Peek().kind == Tok::Kind::kSym && Peek().text == s; }
  Status Expect(const char* what, bool ok) {
    if (!ok) return Status::BadRequest(std::string("expected ") + what + " at '" + (Peek().kind == Tok::Kind::kEnd ? "the end" : Peek().text) + "'");
    ++pos_;
    return Status::Ok();
  }
  Status ExpectKw(const char* k) { return Expect(k, Kw(k)); }
  Status ExpectSym(const char* s) { return Expect((std::string("'") + s + "'").c_str(), Sym(s)); }

  Result<std::string> Name() {
    const Tok& t = Peek();
    if (t.kind != Tok::Kind::kIdent && t.kind != Tok::Kind::kQuoted) return Status::BadRequest("expected a name at '" + t.text + "'");
    ++pos_;
    return t.text;
  }

  // level | measure | FUNC(measure) | FUNC(*) | COUNT(DISTINCT measure)
  Result<Item> SelectItem() {
    if (Peek().kind == Tok::Kind::kIdent && Peek(1).kind == Tok::Kind::kSym && Peek(1).text == "(") {
      Item it;
      it.func = Upper(Peek().text);
      pos_ += 2;
      if (Sym("*")) {
        ++pos_;
        it.name = "*";
      } else {
        if (Kw("DISTINCT")) {
          ++pos_;
          it.func = "COUNT_DISTINCT";
        }
        AIMASS_ASSIGN_OR_RETURN(it.name, Name());
      }
      AIMASS_RETURN_IF_ERROR(ExpectSym(")"));
      return it;
    }
    AIMASS_ASSIGN_OR_RETURN(std::string n, Name());
    return Item{n, ""};
  }

  // BETWEEN a AND b, at BETWEEN: [a, b].
  Result<json> Between() {
    ++pos_;
    AIMASS_ASSIGN_OR_RETURN(json a, Value());
    AIMASS_RETURN_IF_ERROR(ExpectKw("AND"));
    AIMASS_ASSIGN_OR_RETURN(json b, Value());
    return json::array({a, b});
  }

  // = != <> < <= > >= as a query's op.
  Result<std::string> Comparison(const std::string& where) {
    static const std::pair<const char*, const char*> kOps[] = {{"=", "eq"}, {"!=", "ne"}, {"<>", "ne"}, {"<", "lt"},
                                                               {"<=", "lte"}, {">", "gt"}, {">=", "gte"}};
    for (const auto& [sym, name] : kOps) {
      if (Sym(sym)) {
        ++pos_;
        return std::string(name);
      }
    }
    return Status::BadRequest("expected a comparison " + where + " at '" + Peek().text + "'");
  }

  Result<json> Value() {
    const Tok& t = Peek();
    if (t.kind == Tok::Kind::kString) {
      ++pos_;
      return json(t.text);
    }
    bool neg = false;
    if (Sym("-")) {
      neg = true;
      ++pos_;
    }
    const Tok& n = Peek();
    if (n.kind != Tok::Kind::kNumber) return Status::BadRequest("expected a value ('text' or a number) at '" + n.text + "'");
    ++pos_;
    const double v = neg ? -n.number : n.number;
    if (v == std::trunc(v) && std::fabs(v) < 9e15) return json(static_cast<int64_t>(v));
    return json(v);
  }

  std::vector<Tok> t_;
  size_t pos_ = 0;
};

bool IsKeyword(const std::string& s) {
  static const char* kWords[] = {"SELECT", "FROM", "WHERE", "GROUP", "BY", "HAVING", "ORDER", "LIMIT", "OFFSET", "AND", "OR", "AS"};
  const std::string u = Upper(s);
  return std::any_of(std::begin(kWords), std::end(kWords), [&](const char* w) { return u == w; });
}

}  // namespace

Result<std::string> SqlCube(std::string_view sql) {
  AIMASS_ASSIGN_OR_RETURN(auto toks, Lex(sql));
  for (size_t i = 0; i + 1 < toks.size(); ++i) {
    if (toks[i].kind == Tok::Kind::kIdent && Upper(toks[i].text) == "FROM") {
      const Tok& n = toks[i + 1];
      if (n.kind == Tok::Kind::kIdent || n.kind == Tok::Kind::kQuoted) return n.text;
    }
  }
  return Status::BadRequest("the statement names no cube: SELECT … FROM cube");
}

Result<json> SqlToQuery(std::string_view sql, const CubeSpec& spec) {
  AIMASS_ASSIGN_OR_RETURN(auto toks, Lex(sql));
  SqlParser p(std::move(toks));
  AIMASS_RETURN_IF_ERROR(p.ExpectKw("SELECT"));
  std::vector<Item> items;
  for (;;) {
    AIMASS_ASSIGN_OR_RETURN(Item it, p.SelectItem());
    if (p.Kw("AS")) return Status::BadRequest("aliases (AS) are not supported: a column is named after its level or measure");
    items.push_back(it);
    if (!p.Sym(",")) break;
    ++p.pos_;
  }
  AIMASS_RETURN_IF_ERROR(p.ExpectKw("FROM"));
  AIMASS_ASSIGN_OR_RETURN(std::string from, p.Name());
  if (from != spec.name) return Status::BadRequest("the statement reads '" + from + "', not cube '" + spec.name + "'");

  json q = json::object();
  json measures = json::array(), dims = json::array(), filters = json::array();
  std::vector<std::string> columns;  // in select order, for positions
  for (const auto& it : items) {
    std::string name = it.name;
    if (it.name == "*") {
      if (it.func != "COUNT") return Status::BadRequest("* goes only in COUNT(*)");
      const MeasureSpec* rows = nullptr;
      for (const auto& m : spec.measures) {
        if (m.rows()) rows = &m;
      }
      if (!rows) return Status::BadRequest("COUNT(*) needs a measure that counts rows ({\"agg\": \"count\"} without a column)");
      name = rows->name;
    } else if (!it.func.empty()) {
      const MeasureSpec* m = spec.Measure(it.name);
      if (!m) return Status::BadRequest(it.func + "(" + it.name + "): '" + it.name + "' is not a measure of the cube");
      std::string own = Upper(AggName(m->agg));
      if (m->rows()) own = "COUNT";
      if (it.func != "MEASURE" && it.func != own) {
        return Status::BadRequest(it.func + "(" + it.name + "): measure '" + it.name + "' is " + AggName(m->agg) + "; write " + it.name +
                                  " or MEASURE(" + it.name + ")");
      }
    }
    if (spec.Measure(name)) {
      measures.push_back(name);
    } else if (spec.DimensionOf(name)) {
      if (!it.func.empty()) return Status::BadRequest("'" + name + "' is a level: it is grouped by, not aggregated");
      dims.push_back(name);
    } else {
      return Status::BadRequest("'" + name.substr(0, 128) + "' is neither a level nor a measure of cube '" + spec.name + "'");
    }
    columns.push_back(name);
  }
  // A column by name or by its 1-based position in the SELECT list.
  auto column = [&]() -> Result<std::string> {
    if (p.Peek().kind == Tok::Kind::kNumber) {
      const double n = p.Peek().number;
      ++p.pos_;
      if (n < 1 || n > static_cast<double>(columns.size()) || n != std::trunc(n)) return Status::BadRequest("position " + std::to_string(n) + " is not in the SELECT list");
      return columns[static_cast<size_t>(n) - 1];
    }
    if (p.Peek().kind == Tok::Kind::kIdent && p.Peek(1).kind == Tok::Kind::kSym && p.Peek(1).text == "(") {
      AIMASS_ASSIGN_OR_RETURN(Item it, p.SelectItem());
      return it.name;
    }
    return p.Name();
  };
  if (p.Kw("WHERE")) {
    ++p.pos_;
    for (;;) {
      AIMASS_ASSIGN_OR_RETURN(std::string level, p.Name());
      if (!spec.DimensionOf(level)) return Status::BadRequest("WHERE " + level.substr(0, 128) + ": not a level of the cube (measures go in HAVING)");
      json f = {{"dimension", level}};
      if (p.Kw("NOT") && p.Peek(1).kind == Tok::Kind::kIdent && Upper(p.Peek(1).text) == "IN") {
        p.pos_ += 2;
        f["op"] = "not_in";
      } else if (p.Kw("IN")) {
        ++p.pos_;
        f["op"] = "in";
      }
      if (f.contains("op")) {
        AIMASS_RETURN_IF_ERROR(p.ExpectSym("("));
        json values = json::array();
        for (;;) {
          AIMASS_ASSIGN_OR_RETURN(json v, p.Value());
          values.push_back(v);
          if (!p.Sym(",")) break;
          ++p.pos_;
        }
        AIMASS_RETURN_IF_ERROR(p.ExpectSym(")"));
        f["values"] = values;
      } else if (p.Kw("BETWEEN")) {
        AIMASS_ASSIGN_OR_RETURN(f["values"], p.Between());
        f["op"] = "between";
      } else if (p.Kw("IS")) {
        ++p.pos_;
        bool negate = false;
        if (p.Kw("NOT")) {
          negate = true;
          ++p.pos_;
        }
        AIMASS_RETURN_IF_ERROR(p.ExpectKw("NULL"));
        f["op"] = negate ? "ne" : "eq";
        f["value"] = nullptr;
      } else if (p.Kw("LIKE")) {
        ++p.pos_;
        if (p.Peek().kind != Tok::Kind::kString) return Status::BadRequest("LIKE takes a 'pattern'");
        std::string pat = p.Peek().text;
        ++p.pos_;
        const bool lead = !pat.empty() && pat.front() == '%', trail = !pat.empty() && pat.back() == '%';
        std::string core = pat.substr(lead ? 1 : 0, pat.size() - (lead ? 1 : 0) - (trail && pat.size() > 1 ? 1 : 0));
        if (core.find_first_of("%_") != std::string::npos || !trail) {
          return Status::BadRequest("LIKE takes 'text%' (starts with) or '%text%' (contains)");
        }
        f["op"] = lead ? "contains" : "starts_with";
        f["value"] = core;
      } else {
        AIMASS_ASSIGN_OR_RETURN(std::string op, p.Comparison("after " + level));
        AIMASS_ASSIGN_OR_RETURN(json v, p.Value());
        f["op"] = op;
        f["value"] = v;
      }
      filters.push_back(f);
      if (p.Kw("OR")) return Status::BadRequest("WHERE takes conditions joined by AND (OR: use IN)");
      if (!p.Kw("AND")) break;
      ++p.pos_;
    }
  }
  std::string totals = "none";
  if (p.Kw("GROUP")) {
    ++p.pos_;
    AIMASS_RETURN_IF_ERROR(p.ExpectKw("BY"));
    std::vector<std::string> grouped;
    bool wrapped = false;
    if ((p.Kw("ROLLUP") || p.Kw("CUBE")) && p.Peek(1).kind == Tok::Kind::kSym && p.Peek(1).text == "(") {
      totals = p.Kw("ROLLUP") ? "rollup" : "cube";
      p.pos_ += 2;
      wrapped = true;
    }
    for (;;) {
      AIMASS_ASSIGN_OR_RETURN(std::string c, column());
      grouped.push_back(c);
      if (!p.Sym(",")) break;
      ++p.pos_;
    }
    if (wrapped) AIMASS_RETURN_IF_ERROR(p.ExpectSym(")"));
    // SQL's rule: the levels selected are the levels grouped by, in the same order for totals.
    std::vector<std::string> selected = dims.get<std::vector<std::string>>();
    if (grouped != selected) {
      std::vector<std::string> a = grouped, b = selected;
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      if (a != b) return Status::BadRequest("GROUP BY names the levels the SELECT list names, and only those");
      dims = grouped;  // ROLLUP's order is the grouping order
    }
  }
  if (p.Kw("HAVING")) {
    ++p.pos_;
    for (;;) {
      AIMASS_ASSIGN_OR_RETURN(std::string m, column());
      if (!spec.Measure(m)) return Status::BadRequest("HAVING " + m.substr(0, 128) + ": not a measure");
      json f = {{"measure", m}};
      if (p.Kw("BETWEEN")) {
        AIMASS_ASSIGN_OR_RETURN(f["values"], p.Between());
        f["op"] = "between";
      } else {
        AIMASS_ASSIGN_OR_RETURN(std::string op, p.Comparison("in HAVING"));
        AIMASS_ASSIGN_OR_RETURN(json v, p.Value());
        f["op"] = op;
        f["value"] = v;
      }
      filters.push_back(f);
      if (!p.Kw("AND")) break;
      ++p.pos_;
    }
  }
  json order = json::array();
  if (p.Kw("ORDER")) {
    ++p.pos_;
    AIMASS_RETURN_IF_ERROR(p.ExpectKw("BY"));
    for (;;) {
      AIMASS_ASSIGN_OR_RETURN(std::string c, column());
      bool desc = false;
      if (p.Kw("ASC")) ++p.pos_;
      else if (p.Kw("DESC")) desc = true, ++p.pos_;
      order.push_back({{"by", c}, {"desc", desc}});
      if (!p.Sym(",")) break;
      ++p.pos_;
    }
  }
  if (p.Kw("LIMIT")) {
    ++p.pos_;
    AIMASS_ASSIGN_OR_RETURN(json n, p.Value());
    q["limit"] = n;
    if (p.Kw("OFFSET")) {
      ++p.pos_;
      AIMASS_ASSIGN_OR_RETURN(json m, p.Value());
      q["offset"] = m;
    }
  }
  if (p.Sym(";")) ++p.pos_;
  if (p.Peek().kind != Tok::Kind::kEnd) {
    const std::string at = p.Peek().text;
    return Status::BadRequest("unexpected '" + at.substr(0, 64) + "'" + (IsKeyword(at) ? " (clauses go in the order WHERE, GROUP BY, HAVING, ORDER BY, LIMIT)" : ""));
  }
  q["measures"] = measures;
  q["dimensions"] = dims;
  q["filters"] = filters;
  q["order"] = order;
  q["totals"] = totals;
  return q;
}

}  // namespace aimass::cube
