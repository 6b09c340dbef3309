// libFuzzer target for what the cube module reads from the network: cube definitions, queries
// (run over a small table, so that every filter, level and option the parser let through is
// executed), SQL statements (translated and run the same way), measure expressions (evaluated),
// times and level keys, and the engine's chunk and dictionary files. The first byte picks the
// parser. Parsers must return a status, never crash.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "cube/cube_query.hpp"
#include "cube/cube_spec.hpp"
#include "cube/sql.hpp"
#include "olap/chunk_builder.hpp"
#include "olap/expression.hpp"

namespace {

using nlohmann::json;
using namespace aimass;

const cube::CubeSpec& Spec() {
  static const cube::CubeSpec spec = *cube::CubeSpec::Parse(json::parse(R"({
    "name": "sales", "source": {"dataset": "d"},
    "dimensions": [
      {"name": "country", "column": "Country", "hierarchy": [{"name": "region", "column": "Country", "prefix": 1}]},
      {"name": "time", "column": "T", "type": "time"}],
    "measures": [
      {"name": "revenue", "expr": "Q * P", "agg": "sum"}, {"name": "lines", "agg": "count"},
      {"name": "top", "column": "P", "agg": "max"}, {"name": "avg", "column": "P", "agg": "avg"},
      {"name": "customers", "column": "C", "agg": "count_distinct"},
      {"name": "approx", "column": "C", "agg": "count_distinct", "approximate": true},
      {"name": "ratio", "formula": "revenue / lines"}],
    "pre_aggregations": [{"name": "p", "dimensions": ["country", "time.day"]}]})"));
  return spec;
}

const olap::Table& Table() {
  static const olap::Table table = [] {
    olap::Table t;
    auto region = std::make_shared<olap::Dictionary>(), country = std::make_shared<olap::Dictionary>();
    auto cust = std::make_shared<olap::Dictionary>();
    t.schema.code_columns = {"country.region", "country"};
    t.schema.has_time = true;
    t.schema.measures = {{"revenue", false}, {"top", false}, {"avg", false}, {"customers", true}, {"approx", true}};
    olap::ChunkInput in;
    in.codes.resize(2);
    in.values.resize(5), in.valid.resize(5), in.distinct.resize(5);
    const char* names[] = {"France", "Germany", "Spain", "UK"};
    for (int i = 0; i < 200; ++i) {
      const std::string c = names[i % 4];
      in.codes[0].push_back(i % 7 == 0 ? 0 : region->Add(c.substr(0, 1)));
      in.codes[1].push_back(i % 7 == 0 ? 0 : country->Add(c));
      in.times.push_back(1291161600 + i * 40000LL);
      for (int m = 0; m < 3; ++m) in.values[m].push_back(i * 1.25), in.valid[m].push_back(i % 5 != 0);
      for (int m = 3; m < 5; ++m) in.distinct[m].push_back(cust->Add("c" + std::to_string(i % 13)));
    }
    t.AddChunk(olap::MakeChunk(std::move(in)));
    t.code_dicts = {region, country};
    t.distinct_dicts = {nullptr, nullptr, nullptr, cust, cust};
    return t;
  }();
  return table;
}

void Run(const json& q) {
  auto parsed = cube::ParseQuery(q, Spec());
  if (!parsed.ok()) return;
  (void)cube::NeedsOf(Spec(), *parsed);
  (void)cube::Execute(Spec(), Table(), *parsed, cube::ExecOptions{1, size_t{1} << 24}, nullptr);
  if (!parsed->dimensions.empty()) {
    auto down = cube::Drill(Spec(), *parsed, parsed->dimensions[0], json("F"), true);
    if (down.ok()) (void)cube::Execute(Spec(), Table(), *down, cube::ExecOptions{1, size_t{1} << 24}, nullptr);
  }
}

class Source : public olap::ExprSource {
 public:
  size_t rows() const override { return 3; }
  Status Numbers(const std::string& c, std::vector<double>* v, std::vector<uint8_t>* ok) const override {
    if (c != "Q" && c != "P") return Status::BadRequest("no column");
    *v = {1.5, -2, 0};
    *ok = {1, 1, 0};
    return Status::Ok();
  }
  Status Texts(const std::string& c, std::vector<std::string>* v, std::vector<uint8_t>* ok) const override {
    if (c != "Country") return Status::BadRequest("no column");
    *v = {"France", "", "Spain"};
    *ok = {1, 0, 1};
    return Status::Ok();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 7) {
    case 0: {
      json j = json::parse(input, nullptr, false);
      if (!j.is_discarded()) {
        auto s = cube::CubeSpec::Parse(j);
        if (s.ok()) (void)cube::CubeSpec::Parse(s->ToJson());
      }
      break;
    }
    case 1: {
      json j = json::parse(input, nullptr, false);
      if (!j.is_discarded()) Run(j);
      break;
    }
    case 2: {
      (void)cube::SqlCube(input);
      auto q = cube::SqlToQuery(input, Spec());
      if (q.ok()) Run(*q);
      break;
    }
    case 3: {
      auto e = olap::Expression::Parse(input);
      if (!e.ok()) break;
      std::vector<double> v;
      std::vector<uint8_t> ok;
      (void)e->Evaluate(Source(), &v, &ok);
      (void)e->EvaluateScalar({{"Q", 2.0}, {"P", std::nullopt}});
      break;
    }
    case 4:
      for (int l = 0; l <= static_cast<int>(olap::TimeLevel::kHourOfDay); ++l) {
        auto k = olap::ParseKey(static_cast<olap::TimeLevel>(l), input);
        if (k && *k > -1000000000 && *k < 1000000000) (void)olap::RenderKey(static_cast<olap::TimeLevel>(l), *k);
      }
      (void)olap::ParseTime(input);
      break;
    case 5: {
      auto c = olap::ChunkCodec::Decode(input, 2, 5);
      if (c.ok()) (void)olap::ChunkCodec::Encode(*c);
      break;
    }
    case 6:
      (void)olap::Dictionary::Parse(input);
      break;
  }
  return 0;
}
