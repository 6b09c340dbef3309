#include "search/index.hpp"

#include <xapian.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "common/failpoint.hpp"
#include "common/text.hpp"
#include "text/analyzer.hpp"
#include "search/filter_syntax.hpp"
#include "search/query_syntax.hpp"
#include "search/vector_index.hpp"
#include "search/vocabulary.hpp"

namespace aimass::search {

using nlohmann::json;

namespace {

// Value slot of a document's vector (raw little-endian floats); fields use slots 0…255.
constexpr Xapian::valueno kVectorSlot = 0x10000;
// What a completed prefix and a near term (a typo) count for beside the word itself.
constexpr double kPrefixWeight = 0.5, kTypoWeight = 0.1;
constexpr size_t kMaxTypoTerms = 8, kMaxPrefixTerms = 20, kPrefixScan = 5000;
// Positions between fields, so that a phrase does not run from one field into the next.
constexpr Xapian::termpos kFieldGap = 100;
constexpr size_t kSnippetWords = 24;
constexpr size_t kMaxFacetValues = 100;
constexpr size_t kExactTotal = 2000;
constexpr size_t kMaxDepth = 32;  // of arrays and objects in a document
constexpr size_t kMaxIdBytes = 200;  // Xapian terms hold at most 245 bytes, "Q" included

std::string IdTerm(const std::string& id) { return "Q" + id; }
std::string KeywordTerm(unsigned slot, const std::string& lower) { return "K" + std::to_string(slot) + ":" + lower; }
std::string ExistsTerm(unsigned slot) { return "E" + std::to_string(slot); }

// A keyword's values: strings, numbers and booleans, or an array of them.
std::vector<std::string> KeywordValues(const json& v) {
  std::vector<std::string> out;
  auto one = [&](const json& x) {
    if (x.is_string()) out.push_back(x.get<std::string>());
    else if (x.is_number_integer()) out.push_back(std::to_string(x.get<int64_t>()));
    else if (x.is_number() || x.is_boolean()) out.push_back(x.dump());
  };
  if (v.is_array()) {
    for (const auto& x : v) one(x);
  } else {
    one(v);
  }
  return out;
}

// A text field's text: a string, an array of strings, or a scalar written out.
std::string TextOf(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string out;
    for (const auto& x : v) {
      if (!out.empty()) out += "\n";
      out += x.is_string() ? x.get<std::string>() : x.dump();
    }
    return out;
  }
  if (v.is_null()) return "";
  return v.dump();
}

std::optional<double> NumberOf(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(d)) return d;
  }
  return std::nullopt;
}

// A vector as kVectorSlot holds it (raw floats), when it has `dims` numbers.
std::optional<std::vector<float>> StoredVector(const std::string& bytes, int dims) {
  if (bytes.empty() || bytes.size() != dims * sizeof(float)) return std::nullopt;
  std::vector<float> v(dims);
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

// How deeply arrays and objects nest in v, counted without recursion (a body of a million
// brackets must not overflow the stack here or when the document is written out).
size_t Depth(const json& v) {
  size_t deepest = 0;
  std::vector<std::pair<const json*, size_t>> todo{{&v, 1}};
  while (!todo.empty()) {
    auto [j, d] = todo.back();
    todo.pop_back();
    if (!j->is_structured()) continue;
    deepest = std::max(deepest, d);
    for (const auto& x : *j) todo.emplace_back(&x, d + 1);
  }
  return deepest;
}

std::string EscapeHtml(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// Counts the values of keyword slots over every matching document.
class FacetSpy : public Xapian::MatchSpy {
 public:
  explicit FacetSpy(std::vector<unsigned> slots) : slots_(std::move(slots)), counts_(slots_.size()) {}
  void operator()(const Xapian::Document& doc, double) override {
    for (size_t i = 0; i < slots_.size(); ++i) {
      const std::string v = doc.get_value(slots_[i]);
      if (v.empty()) continue;
      size_t b = 0;
      for (;;) {
        size_t e = v.find('\x1f', b);
        ++counts_[i][v.substr(b, e == std::string::npos ? std::string::npos : e - b)];
        if (e == std::string::npos) break;
        b = e + 1;
      }
    }
  }
  json Counts(size_t i) const {
    std::vector<std::pair<std::string, int64_t>> list(counts_[i].begin(), counts_[i].end());
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    json out = json::object();
    for (size_t k = 0; k < list.size() && k < kMaxFacetValues; ++k) out[list[k].first] = list[k].second;
    return out;
  }

 private:
  std::vector<unsigned> slots_;
  std::vector<std::unordered_map<std::string, int64_t>> counts_;
};

}  // namespace

struct Index::Impl {
  std::string dir;
  const text::ChineseSegmenter* zh = nullptr;
  mutable std::mutex spec_mu;
  std::shared_ptr<const IndexSpec> spec;

  mutable std::mutex write_mu;
  Xapian::WritableDatabase wdb;
  bool closed = false;
  std::atomic<uint64_t> generation{0};
  std::atomic<int64_t> doc_count{0};

  struct Reader {
    Xapian::Database db;
    uint64_t generation = 0;
  };
  mutable std::mutex pool_mu;
  mutable std::vector<std::unique_ptr<Reader>> pool;

  Vocabulary vocab;
  std::unique_ptr<VectorIndex> vectors;

  std::shared_ptr<const IndexSpec> Spec() const {
    std::lock_guard lock(spec_mu);
    return spec;
  }

  std::unique_ptr<Reader> Acquire() const {
    std::unique_ptr<Reader> r;
    {
      std::lock_guard lock(pool_mu);
      if (!pool.empty()) {
        r = std::move(pool.back());
        pool.pop_back();
      }
    }
    const uint64_t g = generation.load();
    if (!r) {
      r = std::make_unique<Reader>();
      r->db = Xapian::Database(dir + "/xapian");
      r->generation = g;
    } else if (r->generation != g) {
      r->db.reopen();
      r->generation = g;
    }
    return r;
  }
  void Release(std::unique_ptr<Reader> r) const {
    std::lock_guard lock(pool_mu);
    if (pool.size() < 32) pool.push_back(std::move(r));
  }

  // Runs `body` in a Xapian transaction committed (durably) before it returns, the failpoint
  // search.before_commit between them; on any failure nothing of it is kept. The caller holds
  // write_mu.
  Status Transact(const char* what, const std::function<void()>& body);
  // `words` collects the document's words as written (for the vocabulary).
  Xapian::Document Build(const IndexSpec& s, const text::Analyzer& a, const json& doc, std::vector<std::string>& words,
                         std::vector<float>* vector) const;
  void LoadVocabulary(const IndexSpec& s);
  void RebuildVectors(const IndexSpec& s);
};

Xapian::Document Index::Impl::Build(const IndexSpec& s, const text::Analyzer& a, const json& doc,
                                    std::vector<std::string>& words, std::vector<float>* vector) const {
  Xapian::Document xd;
  json stored = doc;
  stored.erase("_vector");
  xd.set_data(stored.dump());
  xd.add_boolean_term(IdTerm(IdOf(doc)));
  Xapian::termpos base = 0;
  for (const FieldSpec& f : s.fields) {
    auto it = doc.find(f.name);
    if (it == doc.end() || it->is_null()) continue;
    switch (f.type) {
      case FieldSpec::kText: {
        Xapian::termpos last = 0;
        for (const text::Token& t : a.Tokenize(TextOf(*it), true)) {
          xd.add_posting(a.Term(t), base + t.pos, f.weight);
          if (!t.cjk) words.push_back(t.word);
          last = t.pos;
        }
        base += last + kFieldGap;
        break;
      }
      case FieldSpec::kKeyword: {
        std::string joined;
        for (const std::string& v : KeywordValues(*it)) {
          xd.add_boolean_term(KeywordTerm(f.slot, AsciiLower(v)).substr(0, 240));
          if (!joined.empty()) joined.push_back('\x1f');
          joined += v;
        }
        if (!joined.empty()) {
          xd.add_value(f.slot, joined);
          xd.add_boolean_term(ExistsTerm(f.slot));
        }
        break;
      }
      case FieldSpec::kNumber: {
        const json& v = it->is_array() && !it->empty() ? (*it)[0] : *it;
        if (auto d = NumberOf(v)) {
          xd.add_value(f.slot, Xapian::sortable_serialise(*d));
          xd.add_boolean_term(ExistsTerm(f.slot));
        }
        break;
      }
    }
  }
  vector->clear();
  auto v = doc.find("_vector");
  if (s.vector && v != doc.end() && v->is_array() && static_cast<int>(v->size()) == s.vector->dims) {
    for (const auto& x : *v) vector->push_back(x.get<float>());
    vectors->Prepare(*vector);
    xd.add_value(kVectorSlot, std::string(reinterpret_cast<const char*>(vector->data()), vector->size() * sizeof(float)));
  }
  return xd;
}

Status Index::Impl::Transact(const char* what, const std::function<void()>& body) {
  try {
    wdb.begin_transaction(true);
    body();
    if (AIMASS_FAILPOINT("search.before_commit")) {
      wdb.cancel_transaction();
      return failpoint::IoError("search.before_commit", EIO);
    }
    wdb.commit_transaction();
    doc_count = wdb.get_doccount();
    return Status::Ok();
  } catch (const Xapian::Error& e) {
    try {
      wdb.cancel_transaction();
    } catch (const Xapian::Error&) {
    }
    return Status::Internal(std::string(what) + ": " + e.get_description());
  }
}

void Index::Impl::LoadVocabulary(const IndexSpec& s) {
  if (vocab.Load(dir + "/vocabulary", wdb.get_revision())) return;
  // Rebuilt from the documents' text (after a crash, or for a new index).
  text::Analyzer a(s.language, zh);
  std::vector<std::string> words;
  for (auto p = wdb.postlist_begin(""); p != wdb.postlist_end(""); ++p) {
    json d = json::parse(wdb.get_document(*p).get_data(), nullptr, false);
    if (!d.is_object()) continue;
    for (const FieldSpec& f : s.fields) {
      auto it = d.find(f.name);
      if (f.type != FieldSpec::kText || it == d.end()) continue;
      for (const text::Token& t : a.Tokenize(TextOf(*it), false)) {
        if (!t.cjk) words.push_back(t.word);
      }
    }
    if (words.size() > (1u << 20)) {
      vocab.Add(std::move(words));
      words.clear();
    }
  }
  vocab.Add(std::move(words));
}

void Index::Impl::RebuildVectors(const IndexSpec& s) {
  vectors.reset();
  if (!s.vector) return;
  vectors = std::make_unique<VectorIndex>(s.vector->dims, s.vector->metric);
  const std::string path = dir + "/vectors.hnsw";
  if (vectors->Load(path, wdb.get_revision())) return;
  for (auto v = wdb.valuestream_begin(kVectorSlot); v != wdb.valuestream_end(kVectorSlot); ++v) {
    if (auto vec = StoredVector(*v, s.vector->dims)) vectors->Upsert(v.get_docid(), *vec);
  }
}

std::string Index::IdOf(const json& doc) {
  if (!doc.is_object()) return "";
  auto it = doc.find("id");
  if (it == doc.end()) return "";
  std::string id;
  if (it->is_string()) id = it->get<std::string>();
  else if (it->is_number_integer()) id = std::to_string(it->get<int64_t>());
  else return "";
  if (id.empty() || id.size() > kMaxIdBytes || !IsValidUtf8(id)) return "";
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f) return "";
  }
  return id;
}

Result<std::unique_ptr<Index>> Index::Open(const std::string& dir, IndexSpec spec, const text::ChineseSegmenter* zh) {
  std::unique_ptr<Index> ix(new Index());
  ix->impl_ = std::make_unique<Impl>();
  Impl& m = *ix->impl_;
  m.dir = dir;
  m.zh = zh;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Internal("cannot create " + dir + ": " + ec.message());
  try {
    m.wdb = Xapian::WritableDatabase(dir + "/xapian", Xapian::DB_CREATE_OR_OPEN);
    m.doc_count = m.wdb.get_doccount();
    m.LoadVocabulary(spec);
    m.RebuildVectors(spec);
  } catch (const Xapian::Error& e) {
    return Status::Internal("opening search index " + spec.name + ": " + e.get_description());
  }
  m.spec = std::make_shared<const IndexSpec>(std::move(spec));
  return ix;
}

Index::~Index() {
  if (impl_) (void)Close();
}

Status Index::Close() {
  std::lock_guard lock(impl_->write_mu);
  if (impl_->closed) return Status::Ok();
  impl_->closed = true;
  Status st = Status::Ok();
  try {
    const auto revision = impl_->wdb.get_revision();
    st = impl_->vocab.Save(impl_->dir + "/vocabulary", revision);
    if (impl_->vectors && st.ok()) st = impl_->vectors->Save(impl_->dir + "/vectors.hnsw", revision);
    impl_->wdb.close();
  } catch (const Xapian::Error& e) {
    st = Status::Internal("closing search index: " + e.get_description());
  }
  return st;
}

IndexSpec Index::spec() const { return *impl_->Spec(); }

void Index::SetSettings(const IndexSpec& spec) {
  std::lock_guard lock(impl_->spec_mu);
  impl_->spec = std::make_shared<const IndexSpec>(spec);
}

int64_t Index::DocCount() const { return impl_->doc_count.load(); }
size_t Index::VocabularySize() const { return impl_->vocab.size(); }

Status Index::Check(const std::vector<json>& docs) const {
  auto s = impl_->Spec();
  for (size_t i = 0; i < docs.size(); ++i) {
    const json& d = docs[i];
    const std::string where = "document " + std::to_string(i + 1);
    if (!d.is_object()) return Status::BadRequest(where + " is not a JSON object");
    if (IdOf(d).empty()) {
      return Status::BadRequest(where + ": id is a string (1-200 bytes, no control characters) or a whole number");
    }
    if (Depth(d) > kMaxDepth) return Status::BadRequest(where + ": nests deeper than " + std::to_string(kMaxDepth) + " levels");
    for (const FieldSpec& f : s->fields) {
      auto it = d.find(f.name);
      if (it == d.end() || it->is_null()) continue;
      if (f.type == FieldSpec::kNumber) {
        const json& v = it->is_array() && !it->empty() ? (*it)[0] : *it;
        if (!NumberOf(v)) return Status::BadRequest(where + ": " + f.name + " is a number");
      } else if (it->is_object()) {
        return Status::BadRequest(where + ": " + f.name + " is a string, a number or a list of them");
      }
    }
    if (auto v = d.find("_vector"); v != d.end() && !v->is_null()) {
      if (!s->vector) return Status::BadRequest(where + ": _vector given, but the index has no vector");
      if (!v->is_array() || static_cast<int>(v->size()) != s->vector->dims) {
        return Status::BadRequest(where + ": _vector is a list of " + std::to_string(s->vector->dims) + " numbers");
      }
      for (const auto& x : *v) {
        if (!x.is_number() || !std::isfinite(x.get<double>())) {
          return Status::BadRequest(where + ": _vector is a list of " + std::to_string(s->vector->dims) + " numbers");
        }
      }
    }
  }
  return Status::Ok();
}

Result<std::vector<json>> Index::Merge(std::vector<json> docs) const {
  auto s = impl_->Spec();
  std::lock_guard lock(impl_->write_mu);
  try {
    for (json& d : docs) {
      const std::string term = IdTerm(IdOf(d));
      auto p = impl_->wdb.postlist_begin(term);
      if (p == impl_->wdb.postlist_end(term)) continue;
      Xapian::Document old = impl_->wdb.get_document(*p);
      json merged = json::parse(old.get_data(), nullptr, false);
      if (!merged.is_object()) continue;
      for (auto it = d.begin(); it != d.end(); ++it) merged[it.key()] = it.value();
      if (!merged.contains("_vector") && s->vector && s->vector->source == "documents") {
        if (auto v = StoredVector(old.get_value(kVectorSlot), s->vector->dims)) merged["_vector"] = *v;
      }
      d = std::move(merged);
    }
  } catch (const Xapian::Error& e) {
    return Status::Internal("reading documents: " + e.get_description());
  }
  return docs;
}

Result<WriteResult> Index::Write(const std::vector<json>& docs) {
  auto s = impl_->Spec();
  text::Analyzer a(s->language, impl_->zh);
  Impl& m = *impl_;
  std::lock_guard lock(m.write_mu);
  WriteResult r;
  std::vector<std::string> words;
  std::vector<std::pair<Xapian::docid, std::vector<float>>> vecs;
  std::vector<Xapian::docid> unvectored;
  // Ids are unique within a batch (SearchService::Write), so the growth of the document count
  // tells the added from the replaced.
  const Xapian::doccount before = m.doc_count;
  AIMASS_RETURN_IF_ERROR(m.Transact("writing documents", [&] {
    std::vector<float> vec;
    for (const json& d : docs) {
      Xapian::Document xd = m.Build(*s, a, d, words, &vec);
      Xapian::docid id = m.wdb.replace_document(IdTerm(IdOf(d)), xd);
      if (m.vectors) {
        if (vec.empty()) unvectored.push_back(id);
        else vecs.emplace_back(id, vec);
      }
    }
  }));
  r.added = static_cast<int64_t>(m.doc_count - before);
  r.replaced = static_cast<int64_t>(docs.size()) - r.added;
  for (const auto& [id, v] : vecs) m.vectors->Upsert(id, v);
  for (Xapian::docid id : unvectored) m.vectors->Remove(id);
  m.vocab.Add(std::move(words));
  ++m.generation;
  return r;
}

Result<int64_t> Index::Delete(const std::vector<std::string>& ids) {
  Impl& m = *impl_;
  std::lock_guard lock(m.write_mu);
  int64_t n = 0;
  std::vector<Xapian::docid> gone;
  AIMASS_RETURN_IF_ERROR(m.Transact("deleting documents", [&] {
    for (const std::string& id : ids) {
      const std::string term = IdTerm(id);
      auto p = m.wdb.postlist_begin(term);
      if (p == m.wdb.postlist_end(term)) continue;
      gone.push_back(*p);
      m.wdb.delete_document(term);
      ++n;
    }
  }));
  if (m.vectors) {
    for (Xapian::docid id : gone) m.vectors->Remove(id);
  }
  ++m.generation;
  return n;
}

Result<int64_t> Index::DeleteOthers(const std::set<std::string>& keep) {
  std::vector<std::string> drop;
  {
    std::lock_guard lock(impl_->write_mu);
    try {
      for (auto t = impl_->wdb.allterms_begin("Q"); t != impl_->wdb.allterms_end("Q"); ++t) {
        std::string id = (*t).substr(1);
        if (!keep.count(id)) drop.push_back(std::move(id));
      }
    } catch (const Xapian::Error& e) {
      return Status::Internal("listing documents: " + e.get_description());
    }
  }
  if (drop.empty()) return 0;
  return Delete(drop);
}

Result<json> Index::Get(const std::string& id) const {
  auto r = impl_->Acquire();
  try {
    const std::string term = IdTerm(id);
    auto p = r->db.postlist_begin(term);
    if (p == r->db.postlist_end(term)) {
      impl_->Release(std::move(r));
      return Status::NotFound("no document '" + id + "'");
    }
    json d = json::parse(r->db.get_document(*p).get_data(), nullptr, false);
    impl_->Release(std::move(r));
    return d;
  } catch (const Xapian::Error& e) {
    return Status::Internal("reading a document: " + e.get_description());
  }
}

Result<std::vector<json>> Index::List(size_t offset, size_t limit) const {
  auto r = impl_->Acquire();
  std::vector<json> out;
  try {
    size_t k = 0;
    for (auto t = r->db.allterms_begin("Q"); t != r->db.allterms_end("Q") && out.size() < limit; ++t, ++k) {
      if (k < offset) continue;
      auto p = r->db.postlist_begin(*t);
      out.push_back(json::parse(r->db.get_document(*p).get_data(), nullptr, false));
    }
  } catch (const Xapian::Error& e) {
    return Status::Internal("listing documents: " + e.get_description());
  }
  impl_->Release(std::move(r));
  return out;
}

Status Index::Reindex(const IndexSpec& spec) {
  Impl& m = *impl_;
  text::Analyzer a(spec.language, m.zh);
  std::lock_guard lock(m.write_mu);
  try {
    if (spec.vector && (!m.vectors || m.vectors->dims() != spec.vector->dims)) {
      m.vectors = std::make_unique<VectorIndex>(spec.vector->dims, spec.vector->metric);
    } else if (!spec.vector) {
      m.vectors.reset();
    }
    std::vector<std::string> words;
    std::vector<float> vec;
    size_t n = 0;
    std::vector<Xapian::docid> ids;
    for (auto p = m.wdb.postlist_begin(""); p != m.wdb.postlist_end(""); ++p) ids.push_back(*p);
    for (Xapian::docid id : ids) {
      Xapian::Document old = m.wdb.get_document(id);
      json d = json::parse(old.get_data(), nullptr, false);
      if (!d.is_object()) continue;
      if (spec.vector) {
        if (auto v = StoredVector(old.get_value(kVectorSlot), spec.vector->dims)) d["_vector"] = *v;
      }
      m.wdb.replace_document(id, m.Build(spec, a, d, words, &vec));
      if (m.vectors && !vec.empty()) m.vectors->Upsert(id, vec);
      if (++n % 10000 == 0) m.wdb.commit();
    }
    m.wdb.commit();
    // The text fields may have changed: the vocabulary is the new documents' words.
    m.vocab.Clear();
    m.vocab.Add(std::move(words));
  } catch (const Xapian::Error& e) {
    return Status::Internal("reindexing: " + e.get_description());
  }
  {
    std::lock_guard l(m.spec_mu);
    m.spec = std::make_shared<const IndexSpec>(spec);
  }
  ++m.generation;
  return Status::Ok();
}

// ---- searching ----

namespace {

struct QueryBuilder {
  const IndexSpec& s;
  const text::Analyzer& a;
  const Vocabulary& vocab;
  const Xapian::Database& db;
  bool typos, prefix, all;
  std::set<std::string> terms;  // every term the query may match, for highlighting

  Xapian::Query Phrase(const std::string& text) {
    std::vector<Xapian::Query> parts;
    for (const text::Token& t : a.Tokenize(text, false)) {
      std::string term = a.Term(t);
      terms.insert(term);
      parts.emplace_back(term, 1, t.pos);
    }
    if (parts.empty()) return Xapian::Query();
    if (parts.size() == 1) return parts[0];
    return Xapian::Query(Xapian::Query::OP_PHRASE, parts.begin(), parts.end(), parts.size());
  }

  Xapian::Query Word(const text::Token& t, bool typing) {
    const std::string term = a.Term(t);
    std::vector<Xapian::Query> exact{Xapian::Query(term, 1, t.pos)};
    terms.insert(term);
    if (auto it = s.synonyms.find(t.word); it != s.synonyms.end()) {
      for (const std::string& syn : it->second) {
        Xapian::Query q = Phrase(syn);
        if (!q.empty()) exact.push_back(q);
      }
    }
    Xapian::Query q = exact.size() == 1 ? exact[0] : Xapian::Query(Xapian::Query::OP_SYNONYM, exact.begin(), exact.end());
    if (t.cjk || std::isdigit(static_cast<unsigned char>(t.word[0]))) return q;
    // Typos: when the word is in the index, its near terms count for little (a document with
    // the word spelt right ranks first, as Meilisearch's typo rule has it); when it is not,
    // the closest terms stand for it (a correction) and the others count for little.
    std::vector<std::pair<std::string, double>> fuzzy;
    const int len = static_cast<int>(t.word.size());
    if (typos && len >= s.one_typo) {
      const bool known = db.get_termfreq(term) > 0;
      int closest = -1;
      std::set<std::string> seen{term};
      for (auto& [d, w] : vocab.Near(t.word, len >= s.two_typos ? 2 : 1, 64)) {
        std::string c = a.Stem(w);
        if (!seen.insert(c).second || db.get_termfreq(c) == 0) continue;
        if (closest < 0) closest = d;
        const bool correction = !known && d == closest;
        if (correction) {
          terms.insert(c);
          exact.emplace_back(c, 1, t.pos);
        } else if (fuzzy.size() < kMaxTypoTerms) {
          fuzzy.emplace_back(std::move(c), kTypoWeight);
        }
      }
      if (!known && closest >= 0) q = Xapian::Query(Xapian::Query::OP_SYNONYM, exact.begin(), exact.end());
    }
    if (typing && prefix) {
      // The most frequent completions, by the vocabulary's counts; their stems that documents
      // still hold.
      std::set<std::string> stems;
      for (const auto& w : vocab.WithPrefix(t.word, kPrefixScan, kMaxPrefixTerms)) {
        std::string c = a.Stem(w);
        if (c != term && db.get_termfreq(c) > 0) stems.insert(std::move(c));
      }
      for (const auto& c : stems) fuzzy.emplace_back(c, kPrefixWeight);
    }
    if (fuzzy.empty()) return q;
    std::vector<Xapian::Query> alt{q};
    for (auto& [f, w] : fuzzy) {
      terms.insert(f);
      alt.emplace_back(Xapian::Query::OP_SCALE_WEIGHT, Xapian::Query(f), w);
    }
    return Xapian::Query(Xapian::Query::OP_OR, alt.begin(), alt.end());
  }

  // A plain word as written may hold several tokens: "wi-fi" (a phrase), or Chinese text (its
  // words, joined as plain words are).
  Xapian::Query Plain(const QueryNode& n, bool* stop_word) {
    std::vector<text::Token> tokens = a.Tokenize(n.text, false);
    *stop_word = tokens.size() == 1 && s.stop_words.count(tokens[0].word);
    if (tokens.empty()) return Xapian::Query();
    if (tokens.size() == 1) return Word(tokens[0], n.prefix);
    bool cjk = false;
    for (const text::Token& t : tokens) cjk = cjk || t.cjk;
    if (!cjk) return Phrase(n.text);
    std::vector<Xapian::Query> parts;
    for (size_t i = 0; i < tokens.size(); ++i) parts.push_back(Word(tokens[i], n.prefix && i + 1 == tokens.size()));
    return Xapian::Query(all ? Xapian::Query::OP_AND : Xapian::Query::OP_OR, parts.begin(), parts.end());
  }

  Xapian::Query Build(const QueryNode& n) {
    switch (n.kind) {
      case QueryNode::kWord: {
        bool stop = false;
        return Plain(n, &stop);
      }
      case QueryNode::kPhrase:
        return Phrase(n.text);
      case QueryNode::kOr: {
        std::vector<Xapian::Query> alt;
        for (const auto& c : n.optional) {
          Xapian::Query q = Build(c);
          if (!q.empty()) alt.push_back(q);
        }
        return Xapian::Query(Xapian::Query::OP_OR, alt.begin(), alt.end());
      }
      case QueryNode::kGroup:
        break;
    }
    std::vector<Xapian::Query> req, opt, exc, stops;
    for (const auto& c : n.required) {
      Xapian::Query q = Build(c);
      if (!q.empty()) req.push_back(q);
    }
    for (const auto& c : n.optional) {
      bool stop = false;
      Xapian::Query q = c.kind == QueryNode::kWord ? Plain(c, &stop) : Build(c);
      if (q.empty()) continue;
      (stop ? stops : all ? req : opt).push_back(q);
    }
    // Stop words count only when the query has nothing else.
    if (req.empty() && opt.empty()) (all ? req : opt) = stops;
    for (const auto& c : n.excluded) {
      Xapian::Query q = Build(c);
      if (!q.empty()) exc.push_back(q);
    }
    Xapian::Query q;
    Xapian::Query r(Xapian::Query::OP_AND, req.begin(), req.end());
    Xapian::Query o(Xapian::Query::OP_OR, opt.begin(), opt.end());
    if (req.empty()) q = o;
    else if (opt.empty()) q = r;
    else q = Xapian::Query(Xapian::Query::OP_AND_MAYBE, r, o);
    if (!exc.empty()) {
      if (q.empty()) q = Xapian::Query::MatchAll;
      q = Xapian::Query(Xapian::Query::OP_AND_NOT, q, Xapian::Query(Xapian::Query::OP_OR, exc.begin(), exc.end()));
    }
    return q;
  }
};

Result<Xapian::Query> CompileFilter(const FilterNode& n, const IndexSpec& s) {
  auto children = [&](Xapian::Query::op op) -> Result<Xapian::Query> {
    std::vector<Xapian::Query> parts;
    for (const auto& c : n.children) {
      AIMASS_ASSIGN_OR_RETURN(Xapian::Query q, CompileFilter(c, s));
      parts.push_back(q);
    }
    return Xapian::Query(op, parts.begin(), parts.end());
  };
  switch (n.kind) {
    case FilterNode::kAnd: return children(Xapian::Query::OP_AND);
    case FilterNode::kOr: return children(Xapian::Query::OP_OR);
    case FilterNode::kNot: {
      AIMASS_ASSIGN_OR_RETURN(Xapian::Query inner, CompileFilter(n.children[0], s));
      return Xapian::Query(Xapian::Query::OP_AND_NOT, Xapian::Query::MatchAll, inner);
    }
    default: break;
  }
  const FieldSpec* f = s.Field(n.field);
  if (!f) return Status::BadRequest("filter: the index has no field '" + n.field + "'");
  if (f->type == FieldSpec::kText) return Status::BadRequest("filter: '" + n.field + "' is a text field; filters take keyword and number fields");
  if (n.kind == FilterNode::kExists) return Xapian::Query(ExistsTerm(f->slot));
  const bool number = f->type == FieldSpec::kNumber;
  auto num = [&](const std::string& v) -> Result<double> {
    auto d = NumberOf(json(v));
    if (!d) return Status::BadRequest("filter: '" + n.field + "' is a number field; '" + v + "' is not a number");
    return *d;
  };
  auto equal = [&](const std::string& v) -> Result<Xapian::Query> {
    if (!number) return Xapian::Query(KeywordTerm(f->slot, AsciiLower(v)).substr(0, 240));
    AIMASS_ASSIGN_OR_RETURN(double d, num(v));
    const std::string x = Xapian::sortable_serialise(d);
    return Xapian::Query(Xapian::Query::OP_VALUE_RANGE, f->slot, x, x);
  };
  if (n.kind == FilterNode::kIn) {
    std::vector<Xapian::Query> parts;
    for (const auto& v : n.values) {
      AIMASS_ASSIGN_OR_RETURN(Xapian::Query q, equal(v));
      parts.push_back(q);
    }
    return Xapian::Query(Xapian::Query::OP_OR, parts.begin(), parts.end());
  }
  if (n.kind == FilterNode::kRange) {
    if (!number) return Status::BadRequest("filter: TO takes a number field; '" + n.field + "' is a keyword");
    AIMASS_ASSIGN_OR_RETURN(double lo, num(n.values[0]));
    AIMASS_ASSIGN_OR_RETURN(double hi, num(n.values[1]));
    return Xapian::Query(Xapian::Query::OP_VALUE_RANGE, f->slot, Xapian::sortable_serialise(lo), Xapian::sortable_serialise(hi));
  }
  const std::string& op = n.op;
  if (op == "=") return equal(n.values[0]);
  if (op == "!=") {
    AIMASS_ASSIGN_OR_RETURN(Xapian::Query q, equal(n.values[0]));
    return Xapian::Query(Xapian::Query::OP_AND_NOT, Xapian::Query::MatchAll, q);
  }
  if (!number) return Status::BadRequest("filter: " + op + " takes a number field; '" + n.field + "' is a keyword");
  AIMASS_ASSIGN_OR_RETURN(double d, num(n.values[0]));
  const double inf = std::numeric_limits<double>::infinity();
  if (op == "<") return Xapian::Query(Xapian::Query::OP_VALUE_LE, f->slot, Xapian::sortable_serialise(std::nextafter(d, -inf)));
  if (op == "<=") return Xapian::Query(Xapian::Query::OP_VALUE_LE, f->slot, Xapian::sortable_serialise(d));
  if (op == ">") return Xapian::Query(Xapian::Query::OP_VALUE_GE, f->slot, Xapian::sortable_serialise(std::nextafter(d, inf)));
  return Xapian::Query(Xapian::Query::OP_VALUE_GE, f->slot, Xapian::sortable_serialise(d));
}

// The text of a field with the query's terms marked, cut to the best window of words.
std::string Snippet(const text::Analyzer& a, const std::string& text, const std::set<std::string>& terms) {
  std::vector<text::Token> tokens = a.Tokenize(text, true);
  std::vector<std::pair<size_t, size_t>> marks;  // byte ranges
  std::vector<uint32_t> marked_pos;
  for (const text::Token& t : tokens) {
    if (terms.count(a.Term(t))) {
      marks.emplace_back(t.begin, t.end);
      marked_pos.push_back(t.pos);
    }
  }
  if (marks.empty()) return "";
  std::sort(marks.begin(), marks.end());
  std::vector<std::pair<size_t, size_t>> merged;
  for (const auto& m : marks) {
    if (!merged.empty() && m.first <= merged.back().second) merged.back().second = std::max(merged.back().second, m.second);
    else merged.push_back(m);
  }
  // The window of kSnippetWords positions holding most marks.
  std::vector<text::Token> words;
  for (const text::Token& t : tokens) {
    if (!t.sub) words.push_back(t);
  }
  size_t from = 0, to = text.size();
  if (words.size() > kSnippetWords) {
    std::sort(marked_pos.begin(), marked_pos.end());
    size_t best = 0, best_start = 0;
    for (size_t i = 0; i + kSnippetWords <= words.size(); ++i) {
      const uint32_t lo = words[i].pos, hi = words[i + kSnippetWords - 1].pos;
      size_t n = std::upper_bound(marked_pos.begin(), marked_pos.end(), hi) - std::lower_bound(marked_pos.begin(), marked_pos.end(), lo);
      if (n > best) {
        best = n;
        best_start = i;
      }
    }
    // Start a few words before the window's first mark, so that it reads in context.
    size_t first = best_start;
    while (first < words.size() && !std::binary_search(marked_pos.begin(), marked_pos.end(), words[first].pos)) ++first;
    size_t start = first >= 3 ? first - 3 : 0;
    if (start + kSnippetWords > words.size()) start = words.size() - kSnippetWords;
    from = start == 0 ? 0 : words[start].begin;
    to = start + kSnippetWords >= words.size() ? text.size() : words[start + kSnippetWords - 1].end;
  }
  std::string out = from > 0 ? "…" : "";
  size_t at = from;
  for (const auto& [b, e] : merged) {
    if (e <= from || b >= to) continue;
    const size_t mb = std::max(b, from), me = std::min(e, to);
    out += EscapeHtml(std::string_view(text).substr(at, mb - at));
    out += "<em>" + EscapeHtml(std::string_view(text).substr(mb, me - mb)) + "</em>";
    at = me;
  }
  out += EscapeHtml(std::string_view(text).substr(at, to - at));
  if (to < text.size()) out += "…";
  return out;
}

}  // namespace

Result<SearchResult> Index::Search(const SearchRequest& req) const {
  auto s = impl_->Spec();
  const Impl& m = *impl_;
  text::Analyzer a(s->language, m.zh);
  AIMASS_ASSIGN_OR_RETURN(QueryNode parsed, ParseQuery(req.q));
  Xapian::Query filter;
  if (!req.filter.empty()) {
    AIMASS_ASSIGN_OR_RETURN(FilterNode tree, ParseFilter(req.filter));
    AIMASS_ASSIGN_OR_RETURN(filter, CompileFilter(tree, *s));
  }
  std::vector<unsigned> facet_slots;
  for (const auto& name : req.facets) {
    const FieldSpec* f = s->Field(name);
    if (!f || !f->facet) return Status::BadRequest("facets: '" + name + "' is not a facet field of the index");
    facet_slots.push_back(f->slot);
  }
  Xapian::MultiValueKeyMaker keys;
  for (const auto& [name, asc] : req.sort) {
    const FieldSpec* f = s->Field(name);
    if (!f || !f->sortable) return Status::BadRequest("sort: '" + name + "' is not a sortable field of the index");
    keys.add_value(f->slot, !asc);
  }
  const bool vector_side = req.ratio > 0 && !req.vector.empty();
  if (vector_side && !m.vectors) return Status::BadRequest("the index has no vector");
  if (vector_side && static_cast<int>(req.vector.size()) != m.vectors->dims()) {
    return Status::BadRequest("vector has " + std::to_string(req.vector.size()) + " numbers; the index's have " +
                              std::to_string(m.vectors->dims()));
  }

  for (int attempt = 0;; ++attempt) {
    auto reader = m.Acquire();
    try {
      const Xapian::Database& db = reader->db;
      QueryBuilder qb{*s, a, m.vocab, db, req.typos.value_or(s->typos), req.prefix.value_or(s->prefix),
                      req.matching.value_or(s->matching) == "all", {}};
      Xapian::Query text = qb.Build(parsed);
      const bool placeholder = text.empty();
      if (placeholder) text = Xapian::Query::MatchAll;
      Xapian::Query full = filter.empty() ? text : Xapian::Query(Xapian::Query::OP_FILTER, text, filter);

      Xapian::Enquire enquire(db);
      enquire.set_query(full);
      enquire.set_weighting_scheme(Xapian::BM25PlusWeight(s->k1, 0, 1, s->b, 0.5, 0));
      if (!req.sort.empty()) enquire.set_sort_by_key_then_relevance(&keys, false);
      FacetSpy spy(facet_slots);
      if (!facet_slots.empty()) enquire.add_matchspy(&spy);
      const Xapian::doccount n = db.get_doccount();
      const size_t want = req.offset + req.limit;
      // The keyword side's candidates for fusion: more than one page, so that ranks mean something.
      const size_t fused = vector_side ? std::max<size_t>(want + 50, 100) : 0;
      const bool keyword_side = !(vector_side && req.ratio >= 1) && !(vector_side && placeholder);
      // Facets and filter-only searches count every match (facets complete, totals exact); a
      // keyword search counts at least kExactTotal and estimates beyond, so that a query of
      // common words need not score every document (total_exact says which it was).
      const Xapian::doccount check =
          (!facet_slots.empty() || placeholder) ? n : std::min<Xapian::doccount>(n, std::max<size_t>(want, kExactTotal));
      Xapian::MSet mset = keyword_side || !facet_slots.empty()
                              ? enquire.get_mset(vector_side ? 0 : req.offset, vector_side ? (keyword_side ? fused : 0) : req.limit, check)
                              : Xapian::MSet();
      SearchResult out;
      out.total = mset.get_matches_estimated();
      out.total_exact = mset.get_matches_lower_bound() == mset.get_matches_upper_bound();
      for (size_t i = 0; i < facet_slots.size(); ++i) out.facets[req.facets[i]] = spy.Counts(i);

      // (docid, score) in the order of the answer.
      std::vector<std::pair<Xapian::docid, double>> ranked;
      if (!vector_side) {
        for (auto it = mset.begin(); it != mset.end(); ++it) ranked.emplace_back(*it, it.get_weight());
      } else {
        std::vector<float> qv = req.vector;
        m.vectors->Prepare(qv);
        std::function<bool(uint32_t)> keep;
        std::unordered_set<Xapian::docid> allowed;
        if (!filter.empty()) {
          Xapian::Enquire fe(db);
          fe.set_query(filter);
          fe.set_weighting_scheme(Xapian::BoolWeight());
          Xapian::MSet all = fe.get_mset(0, n);
          for (auto it = all.begin(); it != all.end(); ++it) allowed.insert(*it);
          keep = [&allowed](uint32_t id) { return allowed.count(id) > 0; };
        }
        auto near = m.vectors->Nearest(qv, keyword_side ? fused : want, keep);
        if (!keyword_side) {
          for (const auto& [id, sim] : near) ranked.emplace_back(id, sim);
          out.total = static_cast<int64_t>(filter.empty() ? m.vectors->size() : std::min(allowed.size(), m.vectors->size()));
          out.total_exact = true;
        } else {
          // Reciprocal rank fusion, each side weighted by the ratio.
          constexpr double kRrf = 60;
          std::unordered_map<Xapian::docid, double> score;
          size_t rank = 0;
          for (auto it = mset.begin(); it != mset.end(); ++it) score[*it] += (1 - req.ratio) / (kRrf + ++rank);
          rank = 0;
          for (const auto& [id, sim] : near) score[id] += req.ratio / (kRrf + ++rank);
          std::vector<std::pair<Xapian::docid, double>> all(score.begin(), score.end());
          std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) {
            return x.second != y.second ? x.second > y.second : x.first < y.first;
          });
          out.total = std::max<int64_t>(out.total, static_cast<int64_t>(all.size()));
          ranked = std::move(all);
        }
        if (ranked.size() > req.offset) ranked.erase(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(req.offset));
        else ranked.clear();
        if (ranked.size() > req.limit) ranked.resize(req.limit);
      }
      for (const auto& [id, score] : ranked) {
        Xapian::Document d = db.get_document(id);
        Hit h;
        h.document = json::parse(d.get_data(), nullptr, false);
        h.id = IdOf(h.document);
        h.score = score;
        h.highlights = json::object();
        if (req.highlight && !placeholder) {
          for (const FieldSpec& f : s->fields) {
            if (f.type != FieldSpec::kText) continue;
            auto it = h.document.find(f.name);
            if (it == h.document.end() || it->is_null()) continue;
            std::string snip = Snippet(a, TextOf(*it), qb.terms);
            if (!snip.empty()) h.highlights[f.name] = std::move(snip);
          }
        }
        out.hits.push_back(std::move(h));
      }
      m.Release(std::move(reader));
      return out;
    } catch (const Xapian::DatabaseModifiedError&) {
      if (attempt >= 3) return Status::Unavailable("the index changed during the search; try again");
      reader->db.reopen();
      m.Release(std::move(reader));
    } catch (const Xapian::Error& e) {
      return Status::Internal("searching: " + e.get_description());
    }
  }
}

}  // namespace aimass::search
