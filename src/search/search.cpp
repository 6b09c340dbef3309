#include "search/search.hpp"

#include <cstring>
#include <filesystem>
#include <set>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include "common/time.hpp"
#include "datasets/datasets.hpp"
#include "events/bus.hpp"
#include "text/chinese_segmenter.hpp"
#include "search/relevance.hpp"
#include "search/search_request.hpp"
#include "serving/serving.hpp"

namespace aimass::search {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kEmbedBatch = 64;
constexpr uint64_t kSyncPage = 2000;
constexpr size_t kMaxEvalQueries = 10000;

std::string IndexDir(const std::string& root, const std::string& name) { return root + "/" + name; }

}  // namespace

// aimass_search_*: searches and their engine time, documents written, by index.
struct SearchService::Metrics {
  prometheus::Family<prometheus::Counter>* searches;
  prometheus::Family<prometheus::Histogram>* seconds;
  prometheus::Family<prometheus::Counter>* documents;
};

SearchService::SearchService(storage::Db& db, SearchOptions options) : store_(db), options_(std::move(options)) {
  if (!options_.metrics) return;
  auto& r = *options_.metrics;
  metrics_ = std::make_unique<Metrics>();
  metrics_->searches = &prometheus::BuildCounter().Name("aimass_search_queries_total").Help("Searches answered, by index").Register(r);
  metrics_->seconds = &prometheus::BuildHistogram()
                           .Name("aimass_search_query_duration_seconds")
                           .Help("Time a search spent in the engine (its took_ms), by index")
                           .Register(r);
  metrics_->documents =
      &prometheus::BuildCounter().Name("aimass_search_documents_written_total").Help("Documents added or replaced, by index").Register(r);
}

SearchService::~SearchService() { Stop(); }

const text::ChineseSegmenter* SearchService::Segmenter() {
  std::call_once(zh_once_, [this] {
    auto s = text::ChineseSegmenter::Load(options_.zh_dictionary);
    if (s.ok()) zh_ = std::move(*s);
    else spdlog::warn("search: {}; Chinese text is indexed as character bigrams", s.status().message());
  });
  return zh_.get();
}

Status SearchService::CheckNeeds(const IndexSpec& spec) const {
  if (spec.vector && spec.vector->source != "documents" && !options_.serving) {
    return Status::BadRequest("vector.source: this process has no serving module to compute vectors");
  }
  if (spec.source && !options_.datasets) return Status::BadRequest("source: this process has no datasets module");
  return Status::Ok();
}

Status SearchService::Open() {
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) return Status::Internal("cannot create " + options_.dir + ": " + ec.message());
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.List());
  std::set<std::string> known;
  for (const auto& row : rows) {
    known.insert(row.name);
    auto spec = ParseIndexSpec(json::parse(row.spec, nullptr, false));
    if (!spec.ok()) return Status::Internal("search index " + row.name + ": stored spec unreadable: " + spec.status().message());
    AIMASS_ASSIGN_OR_RETURN(auto index, Index::Open(IndexDir(options_.dir, row.name), *spec, Segmenter()));
    auto e = std::make_shared<Entry>();
    e->index = std::move(index);
    indexes_[row.name] = e;
  }
  // A crash between creating an index's directory and its row (or during a delete) leaves a
  // directory nobody owns.
  for (const auto& d : fs::directory_iterator(options_.dir, ec)) {
    if (d.is_directory() && !known.count(d.path().filename().string())) fs::remove_all(d.path(), ec);
  }
  if (options_.bus && options_.datasets) {
    subscription_ = options_.bus->Subscribe("dataset.version.ready", [this](const events::Event& ev) {
      json d = json::parse(ev.data, nullptr, false);
      if (d.is_object() && d.contains("dataset") && d["dataset"].is_string()) OnDatasetVersion(d["dataset"].get<std::string>());
    });
    sync_thread_ = std::thread([this] { SyncLoop(); });
  }
  return Status::Ok();
}

void SearchService::Stop() {
  {
    std::lock_guard lock(sync_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  sync_cv_.notify_all();
  if (subscription_ && options_.bus) options_.bus->Unsubscribe(subscription_);
  if (sync_thread_.joinable()) sync_thread_.join();
  std::lock_guard lock(mu_);
  for (auto& [name, e] : indexes_) {
    Status st = e->index->Close();
    if (!st.ok()) spdlog::warn("search: closing {}: {}", name, st.message());
  }
  indexes_.clear();
}

Result<std::shared_ptr<SearchService::Entry>> SearchService::Find(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = indexes_.find(name);
  if (it == indexes_.end()) return Status::NotFound("no search index '" + name + "'");
  return it->second;
}

Result<IndexInfo> SearchService::Info(const IndexRow& row) {
  AIMASS_ASSIGN_OR_RETURN(auto e, Find(row.name));
  IndexInfo i;
  i.spec = e->index->spec();
  i.row = row;
  i.documents = e->index->DocCount();
  i.terms = e->index->VocabularySize();
  return i;
}

Result<IndexInfo> SearchService::Create(const json& body, const std::string& owner) {
  AIMASS_ASSIGN_OR_RETURN(IndexSpec spec, ParseIndexSpec(body));
  AIMASS_RETURN_IF_ERROR(CheckNeeds(spec));
  {
    std::lock_guard lock(mu_);
    if (indexes_.count(spec.name)) return Status::Conflict("search index '" + spec.name + "' exists");
  }
  const std::string dir = IndexDir(options_.dir, spec.name);
  std::error_code ec;
  fs::remove_all(dir, ec);  // a leftover of a failed create
  AIMASS_ASSIGN_OR_RETURN(auto index, Index::Open(dir, spec, Segmenter()));
  IndexRow row;
  row.name = spec.name;
  row.spec = spec.ToJson().dump();
  row.owner = owner;
  row.created_ms = row.updated_ms = UnixNowMs();
  if (Status st = store_.Insert(row); !st.ok()) {
    index.reset();
    if (st.code() != Code::kConflict) fs::remove_all(dir, ec);
    return st;
  }
  auto e = std::make_shared<Entry>();
  e->index = std::move(index);
  {
    std::lock_guard lock(mu_);
    indexes_[spec.name] = e;
  }
  if (spec.source) OnDatasetVersion(spec.source->dataset);
  return Info(row);
}

Result<IndexInfo> SearchService::Get(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(IndexRow row, store_.Get(name));
  return Info(row);
}

Result<std::vector<IndexInfo>> SearchService::List() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.List());
  std::vector<IndexInfo> out;
  for (const auto& r : rows) {
    auto i = Info(r);
    if (i.ok()) out.push_back(std::move(*i));
  }
  return out;
}

Result<IndexInfo> SearchService::Update(const std::string& name, const json& patch) {
  AIMASS_ASSIGN_OR_RETURN(auto e, Find(name));
  std::lock_guard wl(e->write_mu);
  bool reindex = false;
  AIMASS_ASSIGN_OR_RETURN(IndexSpec spec, PatchIndexSpec(e->index->spec(), patch, &reindex));
  AIMASS_RETURN_IF_ERROR(CheckNeeds(spec));
  // The documents first: a spec stored for documents not yet rewritten would analyse queries
  // unlike the index after a restart.
  if (reindex) AIMASS_RETURN_IF_ERROR(e->index->Reindex(spec));
  AIMASS_RETURN_IF_ERROR(store_.UpdateSpec(name, spec.ToJson().dump(), UnixNowMs()));
  if (!reindex) e->index->SetSettings(spec);
  if (patch.contains("source") && spec.source) OnDatasetVersion(spec.source->dataset);
  return Get(name);
}

Status SearchService::Delete(const std::string& name) {
  AIMASS_RETURN_IF_ERROR(store_.Delete(name));
  std::shared_ptr<Entry> e;
  {
    std::lock_guard lock(mu_);
    auto it = indexes_.find(name);
    if (it != indexes_.end()) {
      e = it->second;
      indexes_.erase(it);
    }
  }
  if (e) {
    std::lock_guard wl(e->write_mu);
    (void)e->index->Close();
  }
  std::error_code ec;
  fs::remove_all(IndexDir(options_.dir, name), ec);
  return Status::Ok();
}

Result<std::vector<std::vector<float>>> SearchService::Embed(const VectorSpec& v, const std::vector<std::string>& texts) {
  if (!options_.serving) return Status::Unavailable("no serving module in this process to compute vectors");
  AIMASS_ASSIGN_OR_RETURN(serving::ModelMetadata meta, options_.serving->Metadata(v.source, std::nullopt));
  if (meta.signature.inputs.empty()) return Status::Unprocessable("deployment " + v.source + " declares no input");
  std::vector<std::vector<float>> out;
  for (size_t at = 0; at < texts.size(); at += kEmbedBatch) {
    const size_t n = std::min(kEmbedBatch, texts.size() - at);
    std::vector<serving::Tensor> inputs;
    inputs.push_back(serving::BytesTensor(meta.signature.inputs[0].name, texts, at, n));
    AIMASS_ASSIGN_OR_RETURN(serving::InferResult r, options_.serving->Infer(v.source, std::nullopt, std::move(inputs)));
    const serving::Tensor* emb = nullptr;
    for (const auto& t : r.outputs) {
      if (!v.output.empty() ? t.name == v.output : (t.dtype == serving::DataType::kFp32 && t.shape.size() == 2 && t.shape[1] == v.dims)) {
        emb = &t;
        break;
      }
    }
    if (!emb || emb->dtype != serving::DataType::kFp32 || emb->shape.size() != 2 ||
        emb->shape[0] != static_cast<int64_t>(n) || emb->shape[1] != v.dims) {
      return Status::Unprocessable("deployment " + v.source + " has no FP32 output [texts, " + std::to_string(v.dims) +
                                   "]" + (v.output.empty() ? "" : " named " + v.output));
    }
    for (size_t i = 0; i < n; ++i) {
      std::vector<float> row(v.dims);
      std::memcpy(row.data(), emb->data.data() + i * v.dims * sizeof(float), v.dims * sizeof(float));
      out.push_back(std::move(row));
    }
  }
  return out;
}

Status SearchService::EmbedDocuments(const IndexSpec& spec, std::vector<json>& docs) {
  if (!spec.vector || spec.vector->source == "documents") return Status::Ok();
  std::vector<std::string> fields = spec.vector->fields;
  if (fields.empty()) {
    for (const auto& f : spec.fields) {
      if (f.type == FieldSpec::kText) fields.push_back(f.name);
    }
  }
  std::vector<std::string> texts;
  std::vector<size_t> which;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (docs[i].contains("_vector")) continue;
    std::string text;
    for (const auto& f : fields) {
      auto it = docs[i].find(f);
      if (it == docs[i].end() || !it->is_string()) continue;
      if (!text.empty()) text += "\n";
      text += it->get<std::string>();
    }
    texts.push_back(std::move(text));
    which.push_back(i);
  }
  if (texts.empty()) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(auto vecs, Embed(*spec.vector, texts));
  for (size_t k = 0; k < which.size(); ++k) docs[which[k]]["_vector"] = vecs[k];
  return Status::Ok();
}

Result<WriteResult> SearchService::Write(const std::string& name, std::vector<json> docs, bool update) {
  AIMASS_ASSIGN_OR_RETURN(auto e, Find(name));
  AIMASS_RETURN_IF_ERROR(e->index->Check(docs));
  // The last of several documents with one id wins, as if they were sent one after another.
  std::map<std::string, size_t> last;
  for (size_t i = 0; i < docs.size(); ++i) last[Index::IdOf(docs[i])] = i;
  if (last.size() != docs.size()) {
    std::vector<json> unique;
    for (size_t i = 0; i < docs.size(); ++i) {
      if (last[Index::IdOf(docs[i])] == i) unique.push_back(std::move(docs[i]));
    }
    docs = std::move(unique);
  }
  std::lock_guard wl(e->write_mu);
  if (update) {
    AIMASS_ASSIGN_OR_RETURN(docs, e->index->Merge(std::move(docs)));
  }
  AIMASS_RETURN_IF_ERROR(EmbedDocuments(e->index->spec(), docs));
  auto r = e->index->Write(docs);
  if (r.ok() && metrics_) metrics_->documents->Add({{"index", name}}).Increment(static_cast<double>(docs.size()));
  return r;
}

Result<int64_t> SearchService::DeleteDocuments(const std::string& name, const std::vector<std::string>& ids) {
  AIMASS_ASSIGN_OR_RETURN(auto e, Find(name));
  std::lock_guard wl(e->write_mu);
  return e->index->Delete(ids);
}

Result<json> SearchService::Document(const std::string& name, const std::string& id) {
  AIMASS_ASSIGN_OR_RETURN(auto e, Find(name));
  return e->index->Get(id);
}

Result<std::vector<json>> SearchService::Documents(const std::string& name, size_t offset, size_t limit) {
  AIMASS_ASSIGN_OR_RETURN(auto e, Find(name));
  return e->index->List(offset, limit);
}

Result<SearchResult> SearchService::Search(const std::string& name, SearchRequest req) {
  AIMASS_ASSIGN_OR_RETURN(auto e, Find(name));
  if (req.ratio > 0 && req.vector.empty()) {
    const IndexSpec spec = e->index->spec();
    if (!spec.vector) return Status::BadRequest("hybrid: the index has no vector");
    if (spec.vector->source == "documents") {
      return Status::BadRequest("hybrid: the index's vectors come with the documents, so the search must give `vector`");
    }
    if (req.q.empty()) return Status::BadRequest("hybrid: q is needed to compute the query's vector");
    AIMASS_ASSIGN_OR_RETURN(auto v, Embed(*spec.vector, {req.q}));
    req.vector = std::move(v[0]);
  }
  const auto start = std::chrono::steady_clock::now();
  auto r = e->index->Search(req);
  if (r.ok() && metrics_) {
    static const prometheus::Histogram::BucketBoundaries kBuckets = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1};
    metrics_->searches->Add({{"index", name}}).Increment();
    metrics_->seconds->Add({{"index", name}}, kBuckets)
        .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return r;
}

Result<json> SearchService::Evaluate(const std::string& name, const json& body) {
  AIMASS_ASSIGN_OR_RETURN(auto e, Find(name));
  if (!body.is_object() || !body.contains("queries") || !body["queries"].is_array() || body["queries"].empty()) {
    return Status::BadRequest("queries is a list of {id, q, judgements: {document id: grade}}");
  }
  if (body["queries"].size() > kMaxEvalQueries) return Status::BadRequest("at most 10000 queries");
  size_t k = 10;
  if (body.contains("k")) {
    if (!body["k"].is_number_integer() || body["k"].get<int64_t>() < 1 || body["k"].get<int64_t>() > 1000) {
      return Status::BadRequest("k is a whole number 1-1000");
    }
    k = body["k"].get<size_t>();
  }
  json options = body.contains("search") ? body["search"] : json::object();
  if (!options.is_object()) return Status::BadRequest("search is the options every query is searched with");
  options.erase("q");
  AIMASS_ASSIGN_OR_RETURN(SearchRequest base, ParseSearchRequest(options));
  base.limit = std::max<size_t>(100, k);
  base.offset = 0;
  base.highlight = false;
  base.facets.clear();
  const std::string K = std::to_string(k);
  json per = json::object();
  RelevanceScores sum;
  size_t n = 0;
  for (const auto& q : body["queries"]) {
    if (!q.is_object() || !q.contains("q") || !q["q"].is_string() || !q.contains("judgements") || !q["judgements"].is_object()) {
      return Status::BadRequest("each query is {id, q, judgements: {document id: grade}}");
    }
    std::string id = q.contains("id") ? (q["id"].is_string() ? q["id"].get<std::string>() : q["id"].dump()) : std::to_string(n + 1);
    std::map<std::string, double> judged;
    for (auto it = q["judgements"].begin(); it != q["judgements"].end(); ++it) {
      if (!it.value().is_number() || it.value().get<double>() < 0) {
        return Status::BadRequest("query " + id + ": a grade is a number, 0 or more (larger is more relevant)");
      }
      judged[it.key()] = it.value().get<double>();
    }
    SearchRequest r = base;
    r.q = q["q"].get<std::string>();
    AIMASS_ASSIGN_OR_RETURN(SearchResult res, Search(name, r));
    std::vector<std::string> ranked;
    for (const auto& h : res.hits) ranked.push_back(h.id);
    RelevanceScores s = Score(ranked, judged, k, 100);
    per[id] = {{"ndcg@" + K, s.ndcg}, {"ap", s.ap}, {"p@" + K, s.precision}, {"recall@100", s.recall}, {"hits", res.total}};
    sum.ndcg += s.ndcg;
    sum.ap += s.ap;
    sum.precision += s.precision;
    sum.recall += s.recall;
    ++n;
  }
  const double d = static_cast<double>(n);
  return json{{"ndcg@" + K, sum.ndcg / d}, {"map", sum.ap / d}, {"p@" + K, sum.precision / d},
              {"recall@100", sum.recall / d}, {"queries", n}, {"per_query", per}};
}

Status SearchService::AddFeedback(const std::string& name, std::vector<FeedbackRow> rows) {
  AIMASS_RETURN_IF_ERROR(Find(name).status());
  return store_.AddFeedback(name, rows);
}

Result<std::vector<FeedbackRow>> SearchService::Feedback(const std::string& name, int64_t limit, int64_t offset) {
  AIMASS_RETURN_IF_ERROR(Find(name).status());
  return store_.Feedback(name, limit, offset);
}

void SearchService::OnDatasetVersion(const std::string& dataset) {
  std::vector<std::string> names;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, e] : indexes_) {
      const IndexSpec s = e->index->spec();
      if (s.source && s.source->dataset == dataset) names.push_back(name);
    }
  }
  std::lock_guard lock(sync_mu_);
  for (auto& n : names) {
    if (std::find(sync_queue_.begin(), sync_queue_.end(), n) == sync_queue_.end()) sync_queue_.push_back(std::move(n));
  }
  sync_cv_.notify_all();
}

void SearchService::SyncLoop() {
  for (;;) {
    std::string name;
    {
      std::unique_lock lock(sync_mu_);
      sync_cv_.wait(lock, [&] { return stopping_ || !sync_queue_.empty(); });
      if (stopping_) return;
      name = sync_queue_.front();
      sync_queue_.pop_front();
    }
    Status st = Sync(name);
    if (!st.ok() && st.code() != Code::kNotFound) spdlog::warn("search: syncing {} from its dataset: {}", name, st.message());
  }
}

Status SearchService::Sync(const std::string& name) {
  if (!options_.datasets) return Status::BadRequest("this process has no datasets module");
  AIMASS_ASSIGN_OR_RETURN(auto e, Find(name));
  const IndexSpec spec = e->index->spec();
  if (!spec.source) return Status::BadRequest("index '" + name + "' has no source dataset");
  AIMASS_ASSIGN_OR_RETURN(IndexRow row, store_.Get(name));
  auto v = options_.datasets->Resolve(spec.source->dataset, spec.source->version);
  if (!v.ok()) {
    (void)store_.UpdateSync(name, row.synced_version, "failed", v.status().message());
    return v.status();
  }
  if (v->status != "ready") return Status::Ok();  // its ready event comes later
  if (row.synced_version == v->version && row.sync_state == "synced") return Status::Ok();
  (void)store_.UpdateSync(name, row.synced_version, "syncing", "");
  std::set<std::string> ids;
  Status st = Status::Ok();
  for (uint64_t off = 0; off < v->row_count && st.ok(); off += kSyncPage) {
    auto page = options_.datasets->Rows(*v, off, kSyncPage, {});
    if (!page.ok()) {
      st = page.status();
      break;
    }
    std::vector<json> docs;
    uint64_t i = off;
    for (auto& r : (*page)["rows"]) {
      ++i;
      if (!r.is_object()) continue;
      auto idv = r.find(spec.source->id_column);
      if (idv == r.end() || idv->is_null()) r["id"] = std::to_string(i);
      else if (spec.source->id_column != "id") r["id"] = idv->is_string() ? idv->get<std::string>() : idv->dump();
      if (r["id"].is_number_float()) r["id"] = r["id"].dump();
      ids.insert(Index::IdOf(r));
      docs.push_back(std::move(r));
    }
    st = Write(name, std::move(docs), false).status();
  }
  if (st.ok()) {
    std::lock_guard wl(e->write_mu);
    st = e->index->DeleteOthers(ids).status();
  }
  (void)store_.UpdateSync(name, st.ok() ? v->version : row.synced_version, st.ok() ? "synced" : "failed",
                          st.ok() ? "" : st.message());
  return st;
}

}  // namespace aimass::search
