// The search service: indexes (their specs in the metadata store, their documents in Xapian
// databases under `dir`), documents written directly or followed from a dataset's versions,
// searches (keyword, vector and hybrid; a deployment in serving computes vectors where the
// index says so), relevance evaluation against graded judgements, and click feedback.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "search/index.hpp"
#include "search/store.hpp"

namespace prometheus {
class Registry;
}
namespace aimass::events {
class EventBus;
}
namespace aimass::serving {
class Serving;
}
namespace aimass::datasets {
class Datasets;
}

namespace aimass::text {
class ChineseSegmenter;
}  // namespace aimass::text

namespace aimass::search {

struct SearchOptions {
  std::string dir;                 // the indexes' databases
  std::string zh_dictionary;       // jieba's dict.txt
  events::EventBus* bus = nullptr;
  serving::Serving* serving = nullptr;     // null: no vectors from deployments
  datasets::Datasets* datasets = nullptr;  // null: no dataset sources
  std::shared_ptr<prometheus::Registry> metrics;  // null: none kept
};

struct IndexInfo {
  IndexSpec spec;
  IndexRow row;
  int64_t documents = 0;
  size_t terms = 0;
};

class SearchService {
 public:
  SearchService(storage::Db& db, SearchOptions options);
  ~SearchService();
  static std::vector<storage::Migration> Migrations() { return SearchStore::Migrations(); }

  // Opens every index, removes the directories of indexes a crash left without a row, and
  // follows new dataset versions.
  Status Open();
  void Stop();

  Result<IndexInfo> Create(const nlohmann::json& body, const std::string& owner);
  Result<IndexInfo> Get(const std::string& name);
  Result<std::vector<IndexInfo>> List();
  Result<IndexInfo> Update(const std::string& name, const nlohmann::json& patch);
  Status Delete(const std::string& name);

  // update: merged into the stored documents (partial update) instead of replacing them.
  Result<WriteResult> Write(const std::string& name, std::vector<nlohmann::json> docs, bool update);
  Result<int64_t> DeleteDocuments(const std::string& name, const std::vector<std::string>& ids);
  Result<nlohmann::json> Document(const std::string& name, const std::string& id);
  Result<std::vector<nlohmann::json>> Documents(const std::string& name, size_t offset, size_t limit);

  // A search; when the request has no vector but asks for the vector side and the index's
  // vectors come from a deployment, q is embedded by it.
  Result<SearchResult> Search(const std::string& name, SearchRequest req);
  // {"queries":[{"id","q","judgements":{doc: grade}}], "k", "search":{…}} → the measures.
  Result<nlohmann::json> Evaluate(const std::string& name, const nlohmann::json& body);

  Status AddFeedback(const std::string& name, std::vector<FeedbackRow> rows);
  Result<std::vector<FeedbackRow>> Feedback(const std::string& name, int64_t limit, int64_t offset);

  // Reads the source dataset's version into the index now (also done in the background when
  // a new version is ready).
  Status Sync(const std::string& name);

 private:
  struct Entry {
    std::unique_ptr<Index> index;
    std::mutex write_mu;  // merge, embed and write as one step
  };
  Result<std::shared_ptr<Entry>> Find(const std::string& name);
  // The Chinese dictionary, read on first use; null when it cannot be (Han text is then
  // indexed as character bigrams).
  const text::ChineseSegmenter* Segmenter();
  Result<std::vector<std::vector<float>>> Embed(const VectorSpec& v, const std::vector<std::string>& texts);
  Status EmbedDocuments(const IndexSpec& spec, std::vector<nlohmann::json>& docs);
  Result<IndexInfo> Info(const IndexRow& row);
  // What a spec asks of other modules (serving for vectors, datasets for a source) is here.
  Status CheckNeeds(const IndexSpec& spec) const;
  void SyncLoop();
  void OnDatasetVersion(const std::string& dataset);

  struct Metrics;
  SearchStore store_;
  SearchOptions options_;
  std::unique_ptr<Metrics> metrics_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> indexes_;
  std::once_flag zh_once_;
  std::unique_ptr<text::ChineseSegmenter> zh_;

  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::deque<std::string> sync_queue_;
  bool stopping_ = false;
  std::thread sync_thread_;
  uint64_t subscription_ = 0;
};

}  // namespace aimass::search
