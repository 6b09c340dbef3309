// A small filter language compiled to parameterised SQL, shared by the modules that search
// their rows (registry versions, tracking runs). The grammar is fixed here; what each field
// means is the caller's: every comparison is handed to a FieldCompiler that returns its SQL.
//
//   filter  := or
//   or      := and ("OR" and)*
//   and     := unary ("AND" unary)*
//   unary   := "NOT" unary | "(" or ")" | field op value
//   field   := name ("." name)*      name: [A-Za-z0-9_/-]+ or `any text but backquotes`
//   op      := = | != | < | <= | > | >= | LIKE
//   value   := 'text' | "text" | number
//
// Keywords are case-insensitive. Values never reach SQL as text: compilers bind them as
// parameters, and field names are looked up, not spliced.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "storage/db.hpp"

namespace aimass::storage {

// A piece of SQL with its parameters.
struct SqlPart {
  std::string sql;
  std::vector<Value> params;
  bool comparison = false;  // one comparison alone (no NOT, no parentheses)
};

struct CompiledFilter {
  std::string where;  // "1=1" for an empty filter
  std::vector<Value> params;
  // Whether the filter is one chain of ANDs (a single term, or none, included); then
  // `conjuncts` holds each of its terms, so that a caller may plan which term drives the query.
  bool conjunctive = false;
  std::vector<SqlPart> conjuncts;
};

// One comparison, as written.
struct FilterTerm {
  std::string field;  // backquotes removed: metrics.`val loss` is "metrics.val loss"
  size_t field_pos = 0;
  std::string op;     // = != < <= > >= LIKE (upper case)
  std::string value;
  bool value_is_number = false;  // written as a number, not quoted
  size_t value_pos = 0;
  bool ordering() const { return op == "<" || op == "<=" || op == ">" || op == ">="; }
  std::string sql_op() const { return op == "!=" ? "<>" : op; }
};

// Returns the SQL of one comparison, appending its parameters; an error names the position.
using FieldCompiler = std::function<Result<std::string>(const FilterTerm&, std::vector<Value>& params)>;

// Fails with bad_request naming the position of the problem. Inputs are limited to 4 KiB,
// 24 levels of parentheses/NOT and 100 comparisons.
Result<CompiledFilter> CompileFilter(std::string_view filter, const FieldCompiler& compile);

// bad_request "filter, at <pos>: <what>", for compilers to report a term's problem.
Status FilterError(size_t pos, const std::string& what);

// Helpers for compilers.
bool FilterIEquals(std::string_view a, std::string_view b);
bool ParseFilterNumber(const std::string& s, double& out);
// Unix seconds from a number or "YYYY-MM-DD[THH:MM:SS[Z]]".
bool ParseFilterTime(const std::string& s, int64_t& out);

}  // namespace aimass::storage
