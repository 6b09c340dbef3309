#include "olap/chunk_builder.hpp"

#include <algorithm>

#include "olap/aggregation.hpp"

namespace aimass::olap {

namespace {

constexpr size_t kChunkRows = 65536;

ValueColumn Values(std::vector<double> v, std::vector<uint8_t> valid) {
  ValueColumn c;
  c.values = std::move(v);
  if (std::find(valid.begin(), valid.end(), 0) != valid.end()) c.valid = std::move(valid);
  c.ComputeZone();
  return c;
}

}  // namespace

std::shared_ptr<const Chunk> MakeChunk(ChunkInput in) {
  auto c = std::make_shared<Chunk>();
  c->rows = in.times.empty() ? (in.codes.empty() ? 0 : in.codes[0].size()) : in.times.size();
  if (c->rows == 0 && !in.values.empty()) c->rows = in.values[0].size();
  if (c->rows == 0 && !in.distinct.empty()) c->rows = in.distinct[0].size();
  for (const auto& codes : in.codes) c->codes.emplace_back(codes);
  if (!in.times.empty()) {
    auto [lo, hi] = std::minmax_element(in.times.begin(), in.times.end());
    c->time.min = *lo;
    c->time.max = *hi;
    c->time.offsets.resize(in.times.size());
    for (size_t i = 0; i < in.times.size(); ++i) c->time.offsets[i] = static_cast<uint32_t>(in.times[i] - *lo);
  }
  const size_t measures = std::max(in.values.size(), in.distinct.size());
  c->measures.resize(measures);
  for (size_t m = 0; m < measures; ++m) {
    if (m < in.distinct.size() && !in.distinct[m].empty()) {
      c->measures[m].distinct.codes = CodeColumn(in.distinct[m]);
    } else if (m < in.values.size()) {
      c->measures[m].sum = Values(std::move(in.values[m]), std::move(in.valid[m]));
    }
  }
  return c;
}

Result<std::shared_ptr<Table>> BuildPreAggregate(const Table& base, const std::vector<size_t>& code_columns,
                                                 std::optional<TimeLevel> time_level, int threads, size_t memory_limit) {
  if (time_level && (!base.schema.has_time || !IsHierarchical(*time_level))) return Status::BadRequest("a pre-aggregation's time is a level of the hierarchy");
  AggregationQuery q;
  for (size_t c : code_columns) q.group_by.push_back({false, c, TimeLevel::kDay});
  if (time_level) q.group_by.push_back({true, 0, *time_level});
  q.aggregates.push_back({Agg::kRows, 0});
  // Per measure: sum (with its count), min and max; or the exact distinct codes.
  std::vector<size_t> first(base.schema.measures.size());
  for (size_t m = 0; m < base.schema.measures.size(); ++m) {
    first[m] = q.aggregates.size();
    if (base.schema.measures[m].distinct) {
      q.aggregates.push_back({Agg::kCountDistinct, m});
    } else {
      q.aggregates.push_back({Agg::kSum, m});
      q.aggregates.push_back({Agg::kMin, m});
      q.aggregates.push_back({Agg::kMax, m});
    }
  }
  q.threads = threads;
  q.memory_limit = memory_limit;
  q.keep_states = true;
  AIMASS_ASSIGN_OR_RETURN(AggregationResult r, Aggregate(base, q));

  auto t = std::make_shared<Table>();
  for (size_t c : code_columns) {
    t->schema.code_columns.push_back(base.schema.code_columns[c]);
    t->code_dicts.push_back(base.code_dicts[c]);
  }
  t->schema.has_time = time_level.has_value();
  t->schema.time_level = time_level;
  t->schema.measures = base.schema.measures;
  t->schema.pre_aggregated = true;
  t->distinct_dicts = base.distinct_dicts;
  const size_t ncodes = code_columns.size();
  for (size_t start = 0; start < r.rows.size(); start += kChunkRows) {
    const size_t end = std::min(r.rows.size(), start + kChunkRows);
    const size_t n = end - start;
    auto c = std::make_shared<Chunk>();
    c->rows = n;
    std::vector<std::vector<uint32_t>> codes(ncodes, std::vector<uint32_t>(n));
    std::vector<int64_t> times;
    c->weights.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const ResultRow& row = r.rows[start + i];
      for (size_t k = 0; k < ncodes; ++k) codes[k][i] = static_cast<uint32_t>(row.keys[k]);
      if (time_level) times.push_back(KeyStart(*time_level, row.keys[ncodes]));
      c->weights[i] = r.states[start + i].rows;
    }
    for (auto& col : codes) c->codes.emplace_back(col);
    if (time_level) {
      auto [lo, hi] = std::minmax_element(times.begin(), times.end());
      c->time.min = *lo, c->time.max = *hi;
      for (int64_t x : times) c->time.offsets.push_back(static_cast<uint32_t>(x - *lo));
    }
    c->measures.resize(base.schema.measures.size());
    for (size_t m = 0; m < base.schema.measures.size(); ++m) {
      MeasureColumns& mc = c->measures[m];
      const size_t a = first[m];
      if (base.schema.measures[m].distinct) {
        std::vector<uint32_t> all;
        mc.distinct.offsets.push_back(0);
        for (size_t i = 0; i < n; ++i) {
          const auto& d = r.states[start + i].distinct[a];
          all.insert(all.end(), d.begin(), d.end());
          mc.distinct.offsets.push_back(static_cast<uint32_t>(all.size()));
        }
        mc.distinct.codes = CodeColumn(all);
        continue;
      }
      std::vector<double> sum(n), mn(n), mx(n);
      std::vector<uint8_t> ok(n);
      mc.count.resize(n);
      for (size_t i = 0; i < n; ++i) {
        const GroupState& s = r.states[start + i];
        mc.count[i] = s.count[a];
        ok[i] = s.count[a] > 0;
        sum[i] = ok[i] ? s.sum[a] : 0;
        mn[i] = ok[i] ? s.min[a + 1] : 0;
        mx[i] = ok[i] ? s.max[a + 2] : 0;
      }
      mc.min = Values(std::move(mn), ok);
      mc.max = Values(std::move(mx), ok);
      mc.sum = Values(std::move(sum), std::move(ok));
    }
    t->AddChunk(c);
  }
  return t;
}

}  // namespace aimass::olap
