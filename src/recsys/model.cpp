#include "recsys/model.hpp"

#include <cmath>
#include <cstring>

namespace aimass::recsys {

using nlohmann::json;

namespace {

constexpr std::string_view kMagic = "AIMASS-REC1\n";
constexpr size_t kMaxItems = 50'000'000;

template <typename T>
void Put(std::string& out, const std::vector<T>& v) {
  if (!v.empty()) out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  template <typename T>
  Status Get(std::vector<T>& v, uint64_t n, const char* what) {
    if (n > (bytes_.size() - at_) / sizeof(T)) return Status::Unprocessable(std::string("recommend model: ") + what + " is cut short");
    v.resize(n);
    if (n) std::memcpy(v.data(), bytes_.data() + at_, n * sizeof(T));
    at_ += n * sizeof(T);
    return Status::Ok();
  }
  bool done() const { return at_ == bytes_.size(); }
  size_t at_ = 0;

 private:
  std::string_view bytes_;
};

uint64_t Count(const json& h, const char* key) {
  const auto it = h.find(key);
  return it != h.end() && it->is_number_unsigned() ? it->get<uint64_t>() : UINT64_MAX;
}

float Number(const json& h, const char* key, float fallback) {
  const auto it = h.find(key);
  return it != h.end() && it->is_number() && std::isfinite(it->get<double>()) ? it->get<float>() : fallback;
}

Status ReadNeighbours(Reader& r, const json& h, const char* key, size_t items, Neighbours& n) {
  const uint64_t nnz = Count(h, key);
  if (nnz == UINT64_MAX) return Status::Unprocessable(std::string("recommend model: the header lacks ") + key);
  AIMASS_RETURN_IF_ERROR(r.Get(n.offsets, items + 1, key));
  AIMASS_RETURN_IF_ERROR(r.Get(n.items, nnz, key));
  AIMASS_RETURN_IF_ERROR(r.Get(n.scores, nnz, key));
  if (n.offsets[0] != 0 || n.offsets[items] != nnz) return Status::Unprocessable(std::string("recommend model: ") + key + " offsets do not add up");
  for (size_t i = 0; i < items; ++i) {
    if (n.offsets[i] > n.offsets[i + 1]) return Status::Unprocessable(std::string("recommend model: ") + key + " offsets go backwards");
  }
  for (uint32_t j : n.items) {
    if (j >= items) return Status::Unprocessable(std::string("recommend model: ") + key + " names an item out of range");
  }
  return Status::Ok();
}

}  // namespace

std::string SerializeModel(const Model& m) {
  json h = {{"items", m.items},
            {"trained_until_ms", m.trained_until_ms},
            {"knn_nnz", m.knn.items.size()},
            {"cooc_nnz", m.cooc.items.size()},
            {"als_dim", m.als.dim},
            {"als_regularization", m.als_regularization},
            {"als_alpha", m.als_alpha},
            {"bpr_dim", m.bpr.dim},
            {"bpr_regularization", m.bpr_regularization},
            {"ranker_bytes", m.ranker.size()},
            {"info", m.info}};
  const std::string header = h.dump();
  std::string out(kMagic);
  const uint64_t len = header.size();
  out.append(reinterpret_cast<const char*>(&len), sizeof len);
  out += header;
  Put(out, m.popularity);
  Put(out, m.recent);
  Put(out, m.last_seen_ms);
  for (const Neighbours* n : {&m.knn, &m.cooc}) {
    Put(out, n->offsets);
    Put(out, n->items);
    Put(out, n->scores);
  }
  Put(out, m.als.data);
  Put(out, m.bpr.data);
  Put(out, m.bpr_bias);
  out += m.ranker;
  return out;
}

Result<Model> ParseModel(std::string_view bytes) {
  if (bytes.size() < kMagic.size() + 8 || bytes.substr(0, kMagic.size()) != kMagic) {
    return Status::Unprocessable("not a recommend model (the file does not start with its magic line)");
  }
  uint64_t len = 0;
  std::memcpy(&len, bytes.data() + kMagic.size(), sizeof len);
  const size_t body = kMagic.size() + sizeof len;
  if (len > bytes.size() - body) return Status::Unprocessable("recommend model: the header is cut short");
  json h = json::parse(bytes.substr(body, len), nullptr, false);
  if (!h.is_object() || !h.contains("items") || !h["items"].is_array()) return Status::Unprocessable("recommend model: the header is not a JSON object with items");
  Model m;
  for (const auto& id : h["items"]) {
    if (!id.is_string()) return Status::Unprocessable("recommend model: an item id is not a string");
    m.items.push_back(id.get<std::string>());
  }
  const size_t n = m.items.size();
  if (n > kMaxItems) return Status::Unprocessable("recommend model: too many items");
  const uint64_t als_dim = Count(h, "als_dim"), bpr_dim = Count(h, "bpr_dim"), ranker = Count(h, "ranker_bytes");
  if (als_dim > 1024 || bpr_dim > 1024 || ranker == UINT64_MAX || !h.contains("trained_until_ms") ||
      !h["trained_until_ms"].is_number_integer()) {
    return Status::Unprocessable("recommend model: the header's sizes are missing or out of range");
  }
  m.trained_until_ms = h["trained_until_ms"].get<int64_t>();
  m.als_regularization = Number(h, "als_regularization", 0.1f);
  m.als_alpha = Number(h, "als_alpha", 1.f);
  m.bpr_regularization = Number(h, "bpr_regularization", 0.01f);
  if (h.contains("info") && h["info"].is_object()) m.info = h["info"];
  Reader r(bytes);
  r.at_ = body + len;
  AIMASS_RETURN_IF_ERROR(r.Get(m.popularity, n, "popularity"));
  AIMASS_RETURN_IF_ERROR(r.Get(m.recent, n, "recent popularity"));
  AIMASS_RETURN_IF_ERROR(r.Get(m.last_seen_ms, n, "last seen"));
  AIMASS_RETURN_IF_ERROR(ReadNeighbours(r, h, "knn_nnz", n, m.knn));
  AIMASS_RETURN_IF_ERROR(ReadNeighbours(r, h, "cooc_nnz", n, m.cooc));
  m.als.rows = als_dim ? n : 0;
  m.als.dim = als_dim;
  AIMASS_RETURN_IF_ERROR(r.Get(m.als.data, m.als.rows * als_dim, "ALS factors"));
  m.bpr.rows = bpr_dim ? n : 0;
  m.bpr.dim = bpr_dim;
  AIMASS_RETURN_IF_ERROR(r.Get(m.bpr.data, m.bpr.rows * bpr_dim, "BPR factors"));
  AIMASS_RETURN_IF_ERROR(r.Get(m.bpr_bias, bpr_dim ? n : 0, "BPR biases"));
  std::vector<char> ranker_bytes;
  AIMASS_RETURN_IF_ERROR(r.Get(ranker_bytes, ranker, "ranker"));
  m.ranker.assign(ranker_bytes.begin(), ranker_bytes.end());
  if (!r.done()) return Status::Unprocessable("recommend model: bytes left over after the ranker");
  return m;
}

}  // namespace aimass::recsys
