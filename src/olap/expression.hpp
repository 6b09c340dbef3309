// The small expression language of measures (`Quantity * UnitPrice`), their filters
// (`Quantity > 0 and Country != 'France'`) and derived measures (`revenue / orders`): numbers,
// 'text', columns by name ("quoted" or `quoted` when they have spaces), + - * /, comparisons
// (1 or 0), and / or / not, and the functions abs, if, coalesce and is_null. Null in, null out
// (division by zero too), as in SQL.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace aimass::olap {

// Where an expression's columns come from, for a run of rows.
class ExprSource {
 public:
  virtual ~ExprSource() = default;
  virtual size_t rows() const = 0;
  // The column's values as numbers; valid[i] 0 where missing or not a number.
  virtual Status Numbers(const std::string& column, std::vector<double>* values, std::vector<uint8_t>* valid) const = 0;
  // The column's values as text, for a comparison with a 'text' literal.
  virtual Status Texts(const std::string& column, std::vector<std::string>* values, std::vector<uint8_t>* valid) const = 0;
};

// The quoted text starting at s[*at] (a quote character; a doubled quote inside is the quote
// itself), moving *at past its closing quote. The SQL subset reads its quotes the same way.
Result<std::string> ReadQuoted(std::string_view s, size_t* at);

struct ExprNode;

class Expression {
 public:
  static Result<Expression> Parse(std::string_view text);
  // The columns (or measures) it names, each once.
  std::vector<std::string> Names() const;
  // Evaluates over every row of `source`.
  Status Evaluate(const ExprSource& source, std::vector<double>* values, std::vector<uint8_t>* valid) const;
  // One value from named numbers (a derived measure over a result row); nullopt is null.
  std::optional<double> EvaluateScalar(const std::vector<std::pair<std::string, std::optional<double>>>& names) const;
  const std::string& text() const { return text_; }

 private:
  std::shared_ptr<const ExprNode> root_;
  std::string text_;
};

}  // namespace aimass::olap
