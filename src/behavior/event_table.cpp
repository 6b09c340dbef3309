#include "behavior/event_table.hpp"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <numeric>

namespace aimass::behavior {

void EventColumns::SetCode(size_t key, size_t row, uint32_t code) {
  if (props.size() <= key) props.resize(key + 1);
  auto& c = props[key].codes;
  if (c.size() <= row) c.resize(row + 1, 0);
  c[row] = code;
}

void EventColumns::SetNumber(size_t key, size_t row, double value) {
  if (props.size() <= key) props.resize(key + 1);
  auto& n = props[key].numbers;
  if (n.size() <= row) n.resize(row + 1, std::nan(""));
  n[row] = value;
}

size_t EventColumns::memory() const {
  size_t m = distinct.capacity() * 4 + event.capacity() * 4 + time.capacity() * 8 + arrival.capacity() * 4;
  for (const auto& p : props) m += p.memory();
  return m;
}

std::shared_ptr<Part> BuildPart(uint64_t id, const std::vector<const EventColumns*>& inputs) {
  // (input, row) of every row, in the order wanted.
  struct Ref {
    uint32_t distinct;
    int64_t time;
    uint32_t arrival;  // across the inputs: older inputs first
    uint32_t input, row;
  };
  size_t total = 0, keys = 0;
  uint32_t max_distinct = 0;
  for (const auto* in : inputs) {
    total += in->rows();
    keys = std::max(keys, in->props.size());
    for (uint32_t d : in->distinct) max_distinct = std::max(max_distinct, d);
  }
  std::vector<Ref> refs;
  refs.reserve(total);
  uint32_t before = 0;
  for (uint32_t i = 0; i < inputs.size(); ++i) {
    const auto& in = *inputs[i];
    for (uint32_t r = 0; r < in.rows(); ++r) refs.push_back({in.distinct[r], in.time[r], before + in.Arrival(r), i, r});
    before += static_cast<uint32_t>(in.rows());
  }
  std::sort(refs.begin(), refs.end(), [](const Ref& a, const Ref& b) {
    if (a.distinct != b.distinct) return a.distinct < b.distinct;
    return a.time != b.time ? a.time < b.time : a.arrival < b.arrival;
  });
  auto part = std::make_shared<Part>();
  part->id = id;
  EventColumns& out = part->cols;
  out.distinct.resize(total);
  out.event.resize(total);
  out.time.resize(total);
  out.arrival.resize(total);
  out.props.resize(keys);
  for (size_t k = 0; k < keys; ++k) {
    bool any_code = false, any_number = false;
    for (const auto* in : inputs) {
      if (k < in->props.size()) {
        any_code |= !in->props[k].codes.empty();
        any_number |= !in->props[k].numbers.empty();
      }
    }
    size_t last_code = 0, last_number = 0;  // one past the last row with a value
    if (any_code) out.props[k].codes.assign(total, 0);
    if (any_number) out.props[k].numbers.assign(total, std::nan(""));
    for (size_t r = 0; r < total; ++r) {
      const auto& in = *inputs[refs[r].input];
      if (any_code) {
        const uint32_t c = in.Code(k, refs[r].row);
        if (c) {
          out.props[k].codes[r] = c;
          last_code = r + 1;
        }
      }
      if (any_number) {
        const double v = in.Number(k, refs[r].row);
        if (!std::isnan(v)) {
          out.props[k].numbers[r] = v;
          last_number = r + 1;
        }
      }
    }
    out.props[k].codes.resize(last_code);
    out.props[k].codes.shrink_to_fit();
    out.props[k].numbers.resize(last_number);
    out.props[k].numbers.shrink_to_fit();
  }
  for (size_t r = 0; r < total; ++r) {
    const auto& in = *inputs[refs[r].input];
    out.distinct[r] = refs[r].distinct;
    out.event[r] = in.event[refs[r].row];
    out.time[r] = refs[r].time;
    out.arrival[r] = refs[r].arrival;
  }
  part->offsets.assign(total ? max_distinct + 2 : 1, 0);
  for (uint32_t d : out.distinct) ++part->offsets[d + 1];
  std::partial_sum(part->offsets.begin(), part->offsets.end(), part->offsets.begin());
  return part;
}

namespace {

constexpr char kMagic[8] = {'A', 'M', 'B', 'E', 'V', 'P', '2', '\n'};

template <typename T>
void PutVector(std::string& out, const std::vector<T>& v) {
  const uint64_t n = v.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

template <typename T>
bool GetVector(std::string_view& in, std::vector<T>* v, uint64_t max) {
  uint64_t n = 0;
  if (in.size() < 8) return false;
  std::memcpy(&n, in.data(), 8);
  in.remove_prefix(8);
  if (n > max || in.size() / sizeof(T) < n) return false;
  v->resize(n);
  std::memcpy(v->data(), in.data(), n * sizeof(T));
  in.remove_prefix(n * sizeof(T));
  return true;
}

}  // namespace

std::string EncodePart(const Part& part) {
  std::string raw;
  raw.reserve(part.memory() + 64);
  const uint64_t head[2] = {part.id, part.cols.props.size()};
  raw.append(reinterpret_cast<const char*>(head), sizeof head);
  PutVector(raw, part.cols.distinct);
  PutVector(raw, part.cols.event);
  PutVector(raw, part.cols.time);
  PutVector(raw, part.cols.arrival);
  for (const auto& p : part.cols.props) {
    PutVector(raw, p.codes);
    PutVector(raw, p.numbers);
  }
  PutVector(raw, part.offsets);
  std::string out(kMagic, sizeof kMagic);
  const uint64_t raw_size = raw.size();
  out.append(reinterpret_cast<const char*>(&raw_size), 8);
  const size_t start = out.size();
  out.resize(start + ZSTD_compressBound(raw.size()));
  const size_t n = ZSTD_compress(out.data() + start, out.size() - start, raw.data(), raw.size(), 1);
  out.resize(start + n);
  return out;
}

Result<std::shared_ptr<Part>> DecodePart(std::string_view data) {
  const Status bad = Status::Internal("an event part file is damaged");
  if (data.size() < sizeof kMagic + 8 || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0) return bad;
  uint64_t raw_size = 0;
  std::memcpy(&raw_size, data.data() + sizeof kMagic, 8);
  data.remove_prefix(sizeof kMagic + 8);
  if (raw_size > (uint64_t{1} << 40) || ZSTD_getFrameContentSize(data.data(), data.size()) != raw_size) return bad;
  std::string raw(raw_size, '\0');
  const size_t n = ZSTD_decompress(raw.data(), raw.size(), data.data(), data.size());
  if (ZSTD_isError(n) || n != raw_size) return bad;
  std::string_view in(raw);
  uint64_t head[2];
  if (in.size() < sizeof head) return bad;
  std::memcpy(head, in.data(), sizeof head);
  in.remove_prefix(sizeof head);
  auto part = std::make_shared<Part>();
  part->id = head[0];
  if (head[1] > 1'000'000) return bad;
  auto& c = part->cols;
  const uint64_t max = raw_size;
  if (!GetVector(in, &c.distinct, max) || !GetVector(in, &c.event, max) || !GetVector(in, &c.time, max) || !GetVector(in, &c.arrival, max)) {
    return bad;
  }
  const size_t rows = c.time.size();
  if (c.distinct.size() != rows || c.event.size() != rows || c.arrival.size() != rows) return bad;
  for (uint32_t a : c.arrival) {
    if (a >= rows) return bad;
  }
  c.props.resize(head[1]);
  for (auto& p : c.props) {
    if (!GetVector(in, &p.codes, max) || !GetVector(in, &p.numbers, max)) return bad;
    if (p.codes.size() > rows || p.numbers.size() > rows) return bad;
  }
  if (!GetVector(in, &part->offsets, max) || !in.empty() || part->offsets.empty() || part->offsets.back() != rows) return bad;
  // The offsets must agree with the sorted codes, or a person's run would read past its rows.
  for (size_t r = 0; r < rows; ++r) {
    const uint32_t d = c.distinct[r];
    if (d + 1 >= part->offsets.size() || r < part->offsets[d] || r >= part->offsets[d + 1]) return bad;
  }
  part->saved = true;
  return part;
}

}  // namespace aimass::behavior
