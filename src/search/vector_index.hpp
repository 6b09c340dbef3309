// Nearest neighbours of document vectors: an HNSW graph (hnswlib from Debian) labelled by the
// documents' Xapian ids, for cosine (vectors normalised, inner product), dot or L2. The graph
// is a cache of the vectors the documents hold: saved on close with the index's revision, and
// rebuilt from the documents when that revision does not match (after a crash).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/status.hpp"

namespace aimass::search {

class VectorIndex {
 public:
  VectorIndex(int dims, std::string metric);
  ~VectorIndex();

  int dims() const { return dims_; }
  // Cosine vectors are normalised in place.
  void Prepare(std::vector<float>& v) const;
  void Upsert(uint32_t label, const std::vector<float>& prepared);
  void Remove(uint32_t label);
  size_t size() const;

  // The k nearest labels that `keep` accepts (all when keep is empty), with their
  // similarity (larger is closer), best first.
  std::vector<std::pair<uint32_t, float>> Nearest(const std::vector<float>& prepared, size_t k,
                                                  const std::function<bool(uint32_t)>& keep) const;

  // Saves the graph and the revision it matches; Load answers false when the file is missing,
  // unreadable or of another revision.
  Status Save(const std::string& path, uint64_t revision) const;
  bool Load(const std::string& path, uint64_t revision);

 private:
  float ToSimilarity(float distance) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int dims_;
  std::string metric_;
  mutable std::shared_mutex mu_;
};

}  // namespace aimass::search
