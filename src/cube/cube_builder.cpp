#include "cube/cube_builder.hpp"

#include <charconv>
#include <cstring>
#include <cmath>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "common/time.hpp"
#include "datasets/values.hpp"
#include "olap/chunk_builder.hpp"

namespace aimass::cube {

namespace {

using datasets::ColumnData;
using datasets::ColumnType;

// A cell as a level value: as the datasets write it, but for whole floats without a fraction
// (an id read as 17850.0 is 17850, 1000000.0 is not 1e+06) and times to the second.
std::string CellText(const ColumnData& c, size_t i) {
  if (c.type == ColumnType::kFloat) {
    const double d = c.floats[i];
    if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9e15) return std::to_string(static_cast<int64_t>(d));
  }
  if (c.type == ColumnType::kTimestamp) return Rfc3339(static_cast<int64_t>(std::floor(c.ints[i] / 1e6)));
  return datasets::ValueText(c, i);
}

std::optional<double> ParseNumber(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  double v;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// The first `n` characters (UTF-8 code points) of `s`.
std::string PrefixChars(const std::string& s, int n) {
  size_t i = 0;
  for (int k = 0; k < n && i < s.size(); ++k) {
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  }
  return s.substr(0, i);
}

std::string LevelValue(const LevelSpec& l, std::string v) {
  if (l.prefix) return PrefixChars(v, l.prefix);
  if (!l.map.empty()) {
    auto it = l.map.find(v);
    if (it != l.map.end()) return it->second;
    if (l.map_default) return *l.map_default;
  }
  return v;
}

// One segment's columns, as an expression reads them.
class SegmentSource : public olap::ExprSource {
 public:
  SegmentSource(const datasets::Schema& schema, const std::vector<size_t>& cols, const std::vector<ColumnData>& data)
      : schema_(schema), cols_(cols), data_(data) {}
  size_t rows() const override { return data_.empty() ? 0 : data_[0].rows; }
  const ColumnData* Find(const std::string& name) const {
    for (size_t i = 0; i < cols_.size(); ++i) {
      if (schema_[cols_[i]].name == name) return &data_[i];
    }
    return nullptr;
  }
  Status Numbers(const std::string& name, std::vector<double>* v, std::vector<uint8_t>* ok) const override {
    const ColumnData* c = Find(name);
    if (!c) return Status::BadRequest("the source has no column '" + name + "'");
    const size_t n = c->rows;
    v->assign(n, 0);
    ok->assign(n, 1);
    if (datasets::IsStringType(c->type)) {
      std::vector<std::optional<double>> entries(c->dict_size());
      for (uint32_t e = 0; e < entries.size(); ++e) entries[e] = ParseNumber(c->Entry(e));
      for (size_t i = 0; i < n; ++i) {
        const auto& x = entries[c->codes[i]];
        (*v)[i] = x.value_or(0);
        (*ok)[i] = x.has_value();
      }
    } else if (c->type == ColumnType::kFloat) {
      for (size_t i = 0; i < n; ++i) (*v)[i] = c->floats[i];
    } else if (c->type == ColumnType::kTimestamp) {
      for (size_t i = 0; i < n; ++i) (*v)[i] = std::floor(c->ints[i] / 1e6);
    } else {
      for (size_t i = 0; i < n; ++i) (*v)[i] = static_cast<double>(c->ints[i]);
    }
    for (size_t i = 0; i < n; ++i) {
      if (c->IsNull(i) || !std::isfinite((*v)[i])) (*ok)[i] = 0;
    }
    return Status::Ok();
  }
  Status Texts(const std::string& name, std::vector<std::string>* v, std::vector<uint8_t>* ok) const override {
    const ColumnData* c = Find(name);
    if (!c) return Status::BadRequest("the source has no column '" + name + "'");
    v->resize(c->rows);
    ok->assign(c->rows, 1);
    for (size_t i = 0; i < c->rows; ++i) {
      if (c->IsNull(i)) (*ok)[i] = 0;
      else (*v)[i] = CellText(*c, i);
    }
    return Status::Ok();
  }

 private:
  const datasets::Schema& schema_;
  const std::vector<size_t>& cols_;
  const std::vector<ColumnData>& data_;
};

// Codes for a column's values through a dictionary: a string column's entries are mapped once
// per segment, other types per distinct value.
void MapCodes(const ColumnData& c, const LevelSpec* level, olap::Dictionary& dict, std::vector<uint32_t>* out) {
  out->resize(c.rows);
  if (datasets::IsStringType(c.type)) {
    std::vector<uint32_t> trans(c.dict_size(), 0xffffffffu);
    for (size_t i = 0; i < c.rows; ++i) {
      if (c.IsNull(i)) {
        (*out)[i] = 0;
        continue;
      }
      uint32_t& t = trans[c.codes[i]];
      if (t == 0xffffffffu) {
        std::string v(c.Entry(c.codes[i]));
        t = dict.Add(level ? LevelValue(*level, std::move(v)) : v);
      }
      (*out)[i] = t;
    }
    return;
  }
  std::unordered_map<int64_t, uint32_t> seen;
  for (size_t i = 0; i < c.rows; ++i) {
    if (c.IsNull(i)) {
      (*out)[i] = 0;
      continue;
    }
    int64_t bits;
    if (c.type == ColumnType::kFloat) std::memcpy(&bits, &c.floats[i], 8);
    else bits = c.ints[i];
    auto it = seen.find(bits);
    if (it == seen.end()) {
      std::string v = CellText(c, i);
      it = seen.emplace(bits, dict.Add(level ? LevelValue(*level, std::move(v)) : v)).first;
    }
    (*out)[i] = it->second;
  }
}

// A row's time in seconds, or nullopt.
void ReadTimes(const ColumnData& c, std::vector<int64_t>* out, std::vector<uint8_t>* ok) {
  out->assign(c.rows, 0);
  ok->assign(c.rows, 1);
  if (datasets::IsStringType(c.type)) {
    std::vector<std::optional<int64_t>> entries(c.dict_size());
    for (uint32_t e = 0; e < entries.size(); ++e) entries[e] = olap::ParseTime(c.Entry(e));
    for (size_t i = 0; i < c.rows; ++i) {
      const auto& t = entries[c.codes[i]];
      (*out)[i] = t.value_or(0);
      (*ok)[i] = t.has_value();
    }
  } else {
    for (size_t i = 0; i < c.rows; ++i) {
      if (c.type == ColumnType::kTimestamp) (*out)[i] = olap::FloorDiv(c.ints[i], 1'000'000);
      else if (c.type == ColumnType::kFloat) (*out)[i] = std::isfinite(c.floats[i]) ? static_cast<int64_t>(std::floor(c.floats[i])) : 0;
      else (*out)[i] = c.ints[i];
      if (c.type == ColumnType::kFloat && !std::isfinite(c.floats[i])) (*ok)[i] = 0;
    }
  }
  for (size_t i = 0; i < c.rows; ++i) {
    if (c.IsNull(i)) (*ok)[i] = 0;
  }
}

template <typename T>
void Keep(std::vector<T>& v, const std::vector<uint8_t>& keep) {
  size_t o = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (keep[i]) v[o++] = v[i];
  }
  v.resize(o);
}

}  // namespace

Status CheckSource(const CubeSpec& spec, const datasets::Schema& schema) {
  auto need = [&](const std::string& col, const std::string& what) -> Status {
    if (datasets::FindColumn(schema, col) < 0) return Status::BadRequest(what + " names column '" + col.substr(0, 128) + "', which the source does not have");
    return Status::Ok();
  };
  for (const auto& d : spec.dimensions) {
    AIMASS_RETURN_IF_ERROR(need(d.column, "dimension '" + d.name + "'"));
    if (d.time) {
      const ColumnType t = schema[datasets::FindColumn(schema, d.column)].type;
      if (t == ColumnType::kBoolean) return Status::BadRequest("time dimension '" + d.name + "' is a boolean column");
    }
    for (const auto& l : d.levels) AIMASS_RETURN_IF_ERROR(need(l.column, "level '" + l.name + "'"));
  }
  for (const auto& m : spec.measures) {
    if (!m.column.empty()) AIMASS_RETURN_IF_ERROR(need(m.column, "measure '" + m.name + "'"));
    for (const std::string* e : {&m.expr, &m.filter}) {
      if (e->empty()) continue;
      for (const auto& n : olap::Expression::Parse(*e)->Names()) AIMASS_RETURN_IF_ERROR(need(n, "measure '" + m.name + "'"));
    }
  }
  return Status::Ok();
}

Result<std::shared_ptr<olap::Table>> BuildCubeTable(const CubeSpec& spec, const datasets::Table& source, size_t first_segment,
                                                    const olap::Table* base, int threads, size_t memory_limit, BuildStats* stats) {
  AIMASS_RETURN_IF_ERROR(CheckSource(spec, source.schema()));
  const auto levels = spec.CodeLevels();
  const auto measures = spec.TableMeasures();
  const DimensionSpec* time = spec.TimeDimension();
  auto t = std::make_shared<olap::Table>();
  std::vector<olap::Dictionary> dicts, distinct;
  if (base) {
    *t = *base;
    for (const auto& d : base->code_dicts) dicts.push_back(*d);
    for (const auto& d : base->distinct_dicts) distinct.push_back(d ? *d : olap::Dictionary());
  } else {
    for (const auto* l : levels) t->schema.code_columns.push_back(l->name);
    t->schema.has_time = time != nullptr;
    for (const auto* m : measures) t->schema.measures.push_back({m->name, m->agg == MeasureAgg::kCountDistinct});
    dicts.resize(levels.size());
    distinct.resize(measures.size());
  }
  if (t->schema.code_columns.size() != levels.size() || t->schema.measures.size() != measures.size()) {
    return Status::Internal("the cube's table does not match its definition");
  }
  // The columns read: every one the spec names, once.
  std::vector<size_t> cols;
  auto use = [&](const std::string& name) {
    const size_t c = static_cast<size_t>(datasets::FindColumn(source.schema(), name));
    for (size_t i = 0; i < cols.size(); ++i) {
      if (cols[i] == c) return i;
    }
    cols.push_back(c);
    return cols.size() - 1;
  };
  std::vector<size_t> level_col;
  for (const auto* l : levels) level_col.push_back(use(l->column));
  const size_t time_col = time ? use(time->column) : 0;
  std::vector<olap::Expression> value_expr(measures.size()), filter_expr(measures.size());
  std::vector<size_t> measure_col(measures.size(), 0);
  for (size_t m = 0; m < measures.size(); ++m) {
    const MeasureSpec& ms = *measures[m];
    if (!ms.column.empty()) measure_col[m] = use(ms.column);
    for (const auto& n : (ms.expr.empty() ? std::vector<std::string>{} : olap::Expression::Parse(ms.expr)->Names())) use(n);
    for (const auto& n : (ms.filter.empty() ? std::vector<std::string>{} : olap::Expression::Parse(ms.filter)->Names())) use(n);
    if (!ms.expr.empty()) value_expr[m] = *olap::Expression::Parse(ms.expr);
    if (!ms.filter.empty()) filter_expr[m] = *olap::Expression::Parse(ms.filter);
  }

  // Segments are read and their expressions evaluated on several threads; codes are given
  // in segment order, so a table built twice from one version is the same.
  struct Prepared {
    Status status;
    std::vector<ColumnData> data;
    std::vector<int64_t> times;
    std::vector<uint8_t> keep;
    std::vector<std::vector<double>> values;
    std::vector<std::vector<uint8_t>> valid;
  };
  auto prepare = [&](size_t s, Prepared* p) {
    auto data = source.ReadColumns(s, cols);
    if (!data.ok()) {
      p->status = data.status();
      return;
    }
    p->data = std::move(*data);
    const size_t n = source.segment_rows(s);
    p->keep.assign(n, 1);
    if (time) ReadTimes(p->data[time_col], &p->times, &p->keep);
    SegmentSource src(source.schema(), cols, p->data);
    p->values.resize(measures.size());
    p->valid.resize(measures.size());
    for (size_t m = 0; m < measures.size(); ++m) {
      const MeasureSpec& ms = *measures[m];
      if (ms.agg == MeasureAgg::kCountDistinct) continue;
      Status st;
      if (!ms.expr.empty()) {
        st = value_expr[m].Evaluate(src, &p->values[m], &p->valid[m]);
      } else if (ms.agg == MeasureAgg::kCount) {  // count(column): 1 where it has a value
        const ColumnData& c = p->data[measure_col[m]];
        p->values[m].assign(n, 1);
        p->valid[m].resize(n);
        for (size_t i = 0; i < n; ++i) p->valid[m][i] = !c.IsNull(i);
      } else {
        st = src.Numbers(ms.column, &p->values[m], &p->valid[m]);
      }
      if (st.ok() && !ms.filter.empty()) {
        std::vector<double> f;
        std::vector<uint8_t> fok;
        st = filter_expr[m].Evaluate(src, &f, &fok);
        for (size_t i = 0; st.ok() && i < n; ++i) {
          if (!fok[i] || f[i] == 0) p->valid[m][i] = 0;
        }
      }
      if (!st.ok()) {
        p->status = Status(st.code(), "measure '" + ms.name + "': " + st.message());
        return;
      }
    }
  };
  const size_t segments = source.segment_count();
  const size_t workers = static_cast<size_t>(std::max(1, threads));
  size_t table_memory = 0;
  for (const auto& c : t->chunks) table_memory += c->memory();
  for (size_t batch = first_segment; batch < segments; batch += workers) {
    const size_t end = std::min(segments, batch + workers);
    std::vector<Prepared> prepared(end - batch);
    {
      std::vector<std::thread> pool;
      for (size_t s = batch + 1; s < end; ++s) pool.emplace_back(prepare, s, &prepared[s - batch]);
      prepare(batch, &prepared[0]);
      for (auto& th : pool) th.join();
    }
    for (size_t s = batch; s < end; ++s) {
      Prepared& p = prepared[s - batch];
      if (!p.status.ok()) return p.status;
      const size_t n = source.segment_rows(s);
      olap::ChunkInput in;
      in.codes.resize(levels.size());
      for (size_t l = 0; l < levels.size(); ++l) {
        MapCodes(p.data[level_col[l]], levels[l]->prefix || !levels[l]->map.empty() ? levels[l] : nullptr, dicts[l], &in.codes[l]);
      }
      in.values.resize(measures.size());
      in.valid.resize(measures.size());
      in.distinct.resize(measures.size());
      for (size_t m = 0; m < measures.size(); ++m) {
        if (measures[m]->agg == MeasureAgg::kCountDistinct) {
          MapCodes(p.data[measure_col[m]], nullptr, distinct[m], &in.distinct[m]);
        } else {
          in.values[m] = std::move(p.values[m]);
          in.valid[m] = std::move(p.valid[m]);
        }
      }
      size_t kept = 0;
      for (uint8_t k : p.keep) kept += k;
      if (stats) {
        stats->rows_read += n;
        stats->rows_skipped += n - kept;
      }
      if (kept != n) {
        for (auto& c : in.codes) Keep(c, p.keep);
        for (auto& v : in.values) {
          if (!v.empty()) Keep(v, p.keep);
        }
        for (auto& v : in.valid) {
          if (!v.empty()) Keep(v, p.keep);
        }
        for (auto& v : in.distinct) {
          if (!v.empty()) Keep(v, p.keep);
        }
        Keep(p.times, p.keep);
      }
      if (kept == 0) continue;
      in.times = std::move(p.times);
      t->AddChunk(olap::MakeChunk(std::move(in)));
      table_memory += t->chunks.back()->memory();
    }
    size_t dict_memory = 0;
    for (const auto* ds : {&dicts, &distinct}) {
      for (const auto& d : *ds) dict_memory += d.values().size() * 48;
    }
    if (table_memory + dict_memory > memory_limit) {
      return Status::TooLarge("cube '" + spec.name + "' needs more than " + std::to_string(memory_limit >> 20) +
                              " MiB of memory, what cube.memory_mb leaves for it: raise it, or make the cube of fewer rows or levels");
    }
  }
  t->code_dicts.clear();
  for (auto& d : dicts) t->code_dicts.push_back(std::make_shared<olap::Dictionary>(std::move(d)));
  t->distinct_dicts.clear();
  for (size_t m = 0; m < measures.size(); ++m) {
    t->distinct_dicts.push_back(measures[m]->agg == MeasureAgg::kCountDistinct ? std::make_shared<olap::Dictionary>(std::move(distinct[m])) : nullptr);
  }
  return t;
}

}  // namespace aimass::cube
