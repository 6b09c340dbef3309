// The SQL subset for people who think in SQL: one SELECT over one cube, translated into the
// JSON query the engine runs.
//
//   SELECT level, …, measure | SUM(measure) | MEASURE(measure) | COUNT(*), …
//   FROM cube
//   [WHERE level op value AND …]   op: = != <> < <= > >= IN (…) NOT IN (…) BETWEEN … AND …
//                                   LIKE 'x%' | '%x%' (starts_with, contains), IS [NOT] NULL
//   [GROUP BY levels | ROLLUP(levels) | CUBE(levels)]   (names or positions)
//   [HAVING measure op number AND …]
//   [ORDER BY name | position [ASC | DESC], …]
//   [LIMIT n [OFFSET m]]
//
// Measures carry their own aggregate, so `revenue`, `SUM(revenue)` and `MEASURE(revenue)` are
// the same column; an aggregate that is not the measure's is refused, not silently changed.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "cube/cube_spec.hpp"

namespace aimass::cube {

// The cube a statement reads (its FROM), without translating the rest.
Result<std::string> SqlCube(std::string_view sql);

// The statement as a JSON query over `spec`.
Result<nlohmann::json> SqlToQuery(std::string_view sql, const CubeSpec& spec);

}  // namespace aimass::cube
