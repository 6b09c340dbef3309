// Expressions in pipeline specs: `${{ params.lr }}` templates in a step's inputs, command and
// env, and the conditions of `when` and `foreach`. A reference names a value of the run's
// context: params.<name>, steps.<step>.outputs.<name>, item (a foreach step's item, with
// .field or [index] into it), run.id, pipeline.name. Operators: == != < <= > >=, and / &&,
// or / ||, not / !, parentheses; literals: numbers, 'text' or "text", true, false, null.
#pragma once

#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::pipeline {

// The value of an expression; bad_request for a syntax error or a reference that is not in
// the context (naming it).
Result<nlohmann::json> Evaluate(std::string_view expr, const nlohmann::json& context);

// Whether a value counts as true: not false, null, 0, "", "false" or "0".
bool Truthy(const nlohmann::json& v);

// `value` with every `${{ expr }}` in its strings replaced: a string that is one template
// alone takes the expression's value as it is (a number stays a number); templates inside
// longer text are written in (text as it is, anything else as JSON).
Result<nlohmann::json> Render(const nlohmann::json& value, const nlohmann::json& context);
Result<std::string> RenderText(std::string_view text, const nlohmann::json& context);

// The steps whose outputs `value`'s templates (or, with `bare`, the expression itself) refer to.
std::set<std::string> StepReferences(const nlohmann::json& value, bool bare = false);

}  // namespace aimass::pipeline
