// libFuzzer target for what the recommend module reads from the network and from users' files:
// recommendation model files (.rec, parsed and then answered from, so that every offset and
// item number the parser let through is used), app configurations, experiment definitions and
// feedback times. The first byte picks the parser. Parsers must return a status, never crash.
// The ranker inside a model is XGBoost's own format, Debian's libxgboost's to parse: it is
// cleared before answering.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "recommend/app_config.hpp"
#include "recommend/experiment.hpp"
#include "recsys/model.hpp"
#include "recsys/recommender.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto m = aimass::recsys::ParseModel(input);
      if (!m.ok() || m->size() == 0) break;
      m->ranker.clear();
      auto rec = aimass::recsys::Recommender::Create(std::make_shared<const aimass::recsys::Model>(std::move(*m)));
      if (!rec.ok()) break;
      const auto& r = **rec;
      aimass::recsys::UserHistory h;
      for (uint32_t i = 0; i < r.model().size() && i < 3; ++i) h.items.push_back({i, 1.f, 0});
      h.recent = {0};
      for (auto s : aimass::recsys::kBaseSources) (void)r.Recommend(s, h, 5, {});
      (void)r.Similar(0, 5, {});
      (void)r.Next(h.recent, 5, {});
      break;
    }
    case 1: {
      nlohmann::json j = nlohmann::json::parse(input, nullptr, false);
      if (!j.is_discarded()) (void)aimass::recommend::ParseAppConfig(j);
      break;
    }
    case 2: {
      nlohmann::json j = nlohmann::json::parse(input, nullptr, false);
      if (j.is_discarded()) break;
      auto e = aimass::recommend::ParseExperiment(j);
      if (e.ok()) (void)aimass::recommend::AssignVariant(*e, input);
      break;
    }
    case 3:
      (void)aimass::ParseRfc3339Ms(input);
      break;
  }
  return 0;
}
