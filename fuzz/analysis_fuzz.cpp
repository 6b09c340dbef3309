// libFuzzer target for what the analysis module takes from users: mining specs, label schemas,
// label values and labelling functions (the network's JSON), parsed and, when accepted,
// written back and parsed again (the stored form must read back the same; a canonical label
// must be canonical again); and the mining algorithms on small data made from the bytes
// (baskets, sequences, points), which must return a status or a result, never crash, and whose
// counts must be the data's. The first byte picks the case.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/label_model.hpp"
#include "analysis/label_schema.hpp"
#include "analysis/mining_spec.hpp"
#include "mining/dbscan.hpp"
#include "mining/fp_growth.hpp"
#include "mining/isolation_forest.hpp"
#include "mining/kmeans.hpp"
#include "mining/prefix_span.hpp"
#include "mining/silhouette.hpp"

using nlohmann::json;
using namespace aimass;

namespace {

// Groups of small numbers split at 0xFF: baskets or sequences of items 0-15.
std::vector<std::vector<uint32_t>> Groups(const uint8_t* d, size_t n) {
  std::vector<std::vector<uint32_t>> out(1);
  for (size_t i = 0; i < n && out.size() < 64; ++i) {
    if (d[i] == 0xFF) {
      out.emplace_back();
    } else if (out.back().size() < 12) {
      out.back().push_back(d[i] % 16);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t which = data[0] % 6;
  const uint8_t knob = data[1];
  data += 2, size -= 2;
  switch (which) {
    case 0: {
      const json j = json::parse(std::string(reinterpret_cast<const char*>(data), size), nullptr, false);
      if (j.is_discarded()) return 0;
      auto s = analysis::ParseMiningSpec(j);
      if (s.ok()) {
        auto again = analysis::ParseMiningSpec(analysis::MiningSpecJson(*s));
        if (!again.ok() || analysis::MiningSpecJson(*again) != analysis::MiningSpecJson(*s)) __builtin_trap();
      }
      break;
    }
    case 4: {
      // {"schema": …, "value": …, "text": "…"} and a labelling function.
      const json j = json::parse(std::string(reinterpret_cast<const char*>(data), size), nullptr, false);
      if (!j.is_object()) return 0;
      auto schema = analysis::ParseLabelSchema(j.value("schema", json()));
      if (!schema.ok()) return 0;
      auto again = analysis::ParseLabelSchema(analysis::LabelSchemaJson(*schema));
      if (!again.ok() || analysis::LabelSchemaJson(*again) != analysis::LabelSchemaJson(*schema)) __builtin_trap();
      const json t = j.value("text", json(""));
      const std::string text = t.is_string() ? t.get<std::string>() : "";
      auto v = analysis::CheckLabel(*schema, j.value("value", json()), text);
      if (v.ok()) {
        auto canon = analysis::CheckLabel(*schema, *v, text);
        if (!canon.ok() || *canon != *v) __builtin_trap();
      }
      auto f = analysis::ParseLabelingFunction(j.value("function", json()), schema->classes);
      if (f.ok()) {
        auto runner = analysis::LabelingFunctionRunner::Compile(*f, schema->classes);
        if (!runner.ok()) __builtin_trap();
        const int vote = runner->Vote(text, j.value("row", json::object()));
        if (vote < -1 || vote >= static_cast<int>(schema->classes.size())) __builtin_trap();
      }
      break;
    }
    case 5: {
      // The label model on votes from the bytes: items of 4 functions over 3 classes.
      std::vector<std::vector<int>> votes;
      for (size_t i = 0; i + 4 <= size && votes.size() < 200; i += 4) {
        std::vector<int> v;
        for (size_t k = 0; k < 4; ++k) v.push_back(static_cast<int>(data[i + k] % 4) - 1);
        votes.push_back(v);
      }
      const auto fit = analysis::FitLabelModel(votes, 3);
      for (size_t i = 0; i < votes.size(); ++i) {
        if (fit.label[i] < -1 || fit.label[i] > 2 || (fit.label[i] >= 0 && !(fit.confidence[i] > 0 && fit.confidence[i] <= 1 + 1e-9))) __builtin_trap();
      }
      break;
    }
    case 1: {
      const auto t = Groups(data, size);
      mining::FrequentOptions o;
      o.min_support = (1 + knob % 10) / 10.0;
      o.max_length = knob % 3 == 0 ? 2 : 0;
      o.max_itemsets = 5000;
      auto sets = mining::FpGrowth(t, o);
      if (!sets.ok()) return 0;
      for (const auto& s : *sets) {
        // Its count is the baskets holding every item.
        uint64_t c = 0;
        for (const auto& b : t) {
          c += std::all_of(s.items.begin(), s.items.end(), [&](uint32_t i) { return std::find(b.begin(), b.end(), i) != b.end(); });
        }
        if (c != s.count || s.items.empty()) __builtin_trap();
      }
      for (const auto& r : mining::AssociationRules(*sets, t.size(), {0.3, 0})) {
        if (!(r.confidence >= 0.3 && r.confidence <= 1 + 1e-12 && r.lift > 0)) __builtin_trap();
      }
      break;
    }
    case 2: {
      const auto s = Groups(data, size);
      mining::SequenceOptions o;
      o.min_support = (1 + knob % 10) / 10.0;
      o.max_length = 1 + knob % 4;
      o.contiguous = knob & 0x80;
      o.max_patterns = 5000;
      auto p = mining::PrefixSpan(s, o);
      if (p.ok()) {
        for (const auto& x : *p) {
          if (x.count == 0 || x.count > s.size() || x.items.size() > o.max_length) __builtin_trap();
        }
      }
      break;
    }
    case 3: {
      // Points of 1-3 dimensions from signed bytes.
      mining::Points pts;
      pts.d = 1 + knob % 3;
      pts.n = size / pts.d;
      if (pts.n == 0 || pts.n > 512) return 0;
      for (size_t i = 0; i < pts.n * pts.d; ++i) pts.x.push_back(static_cast<int8_t>(data[i]) / 8.0);
      mining::KMeansOptions k;
      k.k = 1 + knob % 5;
      k.threads = 1;
      k.mini_batch = knob & 0x40;
      k.batch_size = 1 + knob % 32;
      k.init = knob & 0x20 ? "random" : "k-means++";
      auto km = mining::KMeans(pts, k);
      if (km.ok()) {
        int64_t total = 0;
        for (auto s : km->sizes) total += s;
        if (total != static_cast<int64_t>(pts.n) || !(km->inertia >= 0) || !std::isfinite(km->inertia)) __builtin_trap();
        auto sil = mining::Silhouette(pts, km->labels, 0, 0, 1);
        if (sil && !(*sil >= -1 - 1e-9 && *sil <= 1 + 1e-9)) __builtin_trap();
      }
      mining::DbscanOptions db;
      db.eps = 0.1 + knob % 7;
      db.min_samples = 1 + knob % 6;
      db.threads = 1;
      auto d = mining::Dbscan(pts, db);
      if (d.ok() && d->labels.size() != pts.n) __builtin_trap();
      mining::IsolationForestOptions f;
      f.trees = 1 + knob % 8;
      f.max_samples = 2 + knob % 64;
      f.threads = 1;
      auto forest = mining::IsolationForest::Fit(pts, f);
      if (forest.ok()) {
        for (double s : forest->Score(pts, 1)) {
          if (!(s > 0 && s <= 1)) __builtin_trap();
        }
      }
      break;
    }
  }
  return 0;
}
