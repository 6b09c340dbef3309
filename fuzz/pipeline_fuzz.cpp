// libFuzzer target for what pipelines read from users and jobs: specs (JSON or YAML, checked
// whole), the expressions and templates in them, the outputs a step prints into its log, and
// the CSV records built-in steps read. None may crash, hang or read out of bounds; a spec that
// is accepted must render back to JSON that is accepted again and unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "pipeline/expression.hpp"
#include "pipeline/pipelines.hpp"
#include "pipeline/spec.hpp"
#include "steps/csv_records.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto spec = aimass::pipeline::ParsePipelineSpec(input);
      if (!spec.ok()) break;
      nlohmann::json j = aimass::pipeline::PipelineSpecJson(*spec);
      auto again = aimass::pipeline::PipelineSpecFromJson(j);
      if (!again.ok() || aimass::pipeline::PipelineSpecJson(*again) != j) std::abort();
      break;
    }
    case 1: {
      static const nlohmann::json ctx = {{"params", {{"lr", 0.1}, {"list", {1, 2, 3}}, {"name", "x"}}},
                                         {"steps", {{"a", {{"outputs", {{"v", "1"}, {"o", {{"k", true}}}}}}}}},
                                         {"item", {{"f", 2}}},
                                         {"run", {{"id", 1}}}};
      (void)aimass::pipeline::Evaluate(input, ctx);
      (void)aimass::pipeline::Render(nlohmann::json(input), ctx);
      (void)aimass::pipeline::StepReferences(nlohmann::json(input), true);
      break;
    }
    case 2: {
      nlohmann::json out = aimass::pipeline::ParseOutputs(input);
      if (!out.is_object()) std::abort();
      break;
    }
    default: {
      auto records = aimass::steps::CsvRecords(input);
      if (records.ok()) {
        for (const auto& r : *records) (void)aimass::steps::CsvFields(r);
      }
    }
  }
  return 0;
}
