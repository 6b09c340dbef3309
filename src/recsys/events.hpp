// The feedback a recommender learns from, with users and items numbered densely, and the
// sparse matrices (users × items, items × users) the algorithms read.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace aimass::recsys {

// One piece of feedback: `user` gave `item` a weight (its type's weight times its value) at a time,
// in a session (0: none given; the trainer then cuts the user's feedback into sessions by gaps).
struct Event {
  uint32_t user = 0;
  uint32_t item = 0;
  float weight = 1;
  int64_t ts_ms = 0;
  uint32_t session = 0;
};

// Numbers strings densely in the order first seen.
class IdMap {
 public:
  uint32_t Add(const std::string& id);
  // The number of `id`, or -1 when it was never added.
  int64_t Find(const std::string& id) const;
  const std::string& Name(uint32_t index) const { return names_[index]; }
  const std::vector<std::string>& Names() const { return names_; }
  size_t size() const { return names_.size(); }

 private:
  std::unordered_map<std::string, uint32_t> index_;
  std::vector<std::string> names_;
};

// Feedback with its ids numbered: what the trainer and the offline evaluation take.
struct EventLog {
  IdMap users;
  IdMap items;
  IdMap sessions;  // session ids as given; index 0 is reserved for "none"
  std::vector<Event> events;

  EventLog() { sessions.Add(""); }
  void Add(const std::string& user, const std::string& item, float weight, int64_t ts_ms, const std::string& session = "");
};

// Compressed sparse rows: row r's columns are indices[indptr[r]..indptr[r+1]) with their values.
struct Csr {
  size_t rows = 0;
  size_t cols = 0;
  std::vector<uint64_t> indptr;
  std::vector<uint32_t> indices;
  std::vector<float> values;

  std::span<const uint32_t> Columns(size_t r) const { return {indices.data() + indptr[r], indices.data() + indptr[r + 1]}; }
  std::span<const float> Values(size_t r) const { return {values.data() + indptr[r], values.data() + indptr[r + 1]}; }
  size_t nnz() const { return indices.size(); }
  Csr Transposed() const;
};

// Users × items with each pair's weights summed (columns sorted within a row).
Csr UserItemMatrix(const std::vector<Event>& events, size_t users, size_t items);

// Sessions as lists of items in time order: a session id given with the feedback, or else a
// user's feedback cut wherever `gap_ms` passes without any.
std::vector<std::vector<uint32_t>> Sessions(std::vector<Event> events, int64_t gap_ms);

}  // namespace aimass::recsys
