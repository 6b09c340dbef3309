#include "search/vector_index.hpp"

#include <hnswlib/hnswlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <unordered_set>

#include "common/file.hpp"

namespace aimass::search {

namespace {
constexpr size_t kM = 16, kEfConstruction = 200, kInitialCapacity = 1024;
// The breadth of a search: hnswlib searches max(ef, k), so it is set once, not per search
// (setting it per search would race between concurrent searches).
constexpr size_t kEfSearch = 64;
}

struct VectorIndex::Impl {
  std::unique_ptr<hnswlib::SpaceInterface<float>> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph;
  std::unordered_set<uint32_t> live;
};

VectorIndex::VectorIndex(int dims, std::string metric) : impl_(new Impl), dims_(dims), metric_(std::move(metric)) {
  if (metric_ == "l2") impl_->space = std::make_unique<hnswlib::L2Space>(dims);
  else impl_->space = std::make_unique<hnswlib::InnerProductSpace>(dims);
  impl_->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(impl_->space.get(), kInitialCapacity, kM, kEfConstruction);
  impl_->graph->setEf(kEfSearch);
}

VectorIndex::~VectorIndex() = default;

void VectorIndex::Prepare(std::vector<float>& v) const {
  if (metric_ != "cosine") return;
  double n = 0;
  for (float x : v) n += static_cast<double>(x) * x;
  n = std::sqrt(n);
  if (n > 0) {
    for (float& x : v) x = static_cast<float>(x / n);
  }
}

void VectorIndex::Upsert(uint32_t label, const std::vector<float>& v) {
  std::unique_lock lock(mu_);
  auto& g = *impl_->graph;
  if (g.cur_element_count >= g.max_elements_) g.resizeIndex(std::max<size_t>(kInitialCapacity, g.max_elements_ * 2));
  g.addPoint(v.data(), label);
  impl_->live.insert(label);
}

void VectorIndex::Remove(uint32_t label) {
  std::unique_lock lock(mu_);
  if (impl_->live.erase(label)) impl_->graph->markDelete(label);
}

size_t VectorIndex::size() const {
  std::shared_lock lock(mu_);
  return impl_->live.size();
}

float VectorIndex::ToSimilarity(float d) const {
  if (metric_ == "l2") return 1.0f / (1.0f + std::sqrt(std::max(0.0f, d)));
  return 1.0f - d;
}

std::vector<std::pair<uint32_t, float>> VectorIndex::Nearest(const std::vector<float>& q, size_t k,
                                                             const std::function<bool(uint32_t)>& keep) const {
  std::shared_lock lock(mu_);
  std::vector<std::pair<uint32_t, float>> out;
  const size_t n = impl_->live.size();
  if (n == 0 || k == 0) return out;
  // With a filter, ask for more until k pass it or every vector was seen.
  for (size_t want = std::min(n, keep ? k * 4 : k);; want = std::min(n, want * 4)) {
    auto pq = impl_->graph->searchKnn(q.data(), want);
    out.clear();
    while (!pq.empty()) {
      auto [d, label] = pq.top();
      pq.pop();
      if (!keep || keep(static_cast<uint32_t>(label))) out.emplace_back(static_cast<uint32_t>(label), ToSimilarity(d));
    }
    std::reverse(out.begin(), out.end());
    if (out.size() >= k || want >= n) break;
  }
  if (out.size() > k) out.resize(k);
  return out;
}

Status VectorIndex::Save(const std::string& path, uint64_t revision) const {
  std::shared_lock lock(mu_);
  const std::string tmp = path + ".tmp";
  try {
    impl_->graph->saveIndex(tmp);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("saving the vector graph: ") + e.what());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::Internal("saving the vector graph: " + ec.message());
  std::string live;
  for (uint32_t l : impl_->live) live.append(reinterpret_cast<const char*>(&l), sizeof l);
  AIMASS_RETURN_IF_ERROR(WriteFileAtomically(path + ".live", live, 0600));
  return WriteFileAtomically(path + ".revision", std::to_string(revision), 0600);
}

bool VectorIndex::Load(const std::string& path, uint64_t revision) {
  auto rev = ReadFile(path + ".revision");
  auto live = ReadFile(path + ".live");
  if (!rev.ok() || !live.ok() || *rev != std::to_string(revision) || live->size() % sizeof(uint32_t)) return false;
  std::unique_lock lock(mu_);
  try {
    auto g = std::make_unique<hnswlib::HierarchicalNSW<float>>(impl_->space.get(), path);
    g->setEf(kEfSearch);
    impl_->graph = std::move(g);
  } catch (const std::exception&) {
    return false;
  }
  impl_->live.clear();
  for (size_t i = 0; i < live->size(); i += sizeof(uint32_t)) {
    uint32_t l;
    std::memcpy(&l, live->data() + i, sizeof l);
    impl_->live.insert(l);
  }
  return true;
}

}  // namespace aimass::search
