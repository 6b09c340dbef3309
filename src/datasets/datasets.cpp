#include "datasets/datasets.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <spdlog/spdlog.h>

#include <charconv>

#include "common/failpoint.hpp"
#include "common/file.hpp"
#include "common/media_type.hpp"
#include "common/name.hpp"
#include "common/sha256.hpp"
#include "common/thread_name.hpp"
#include "common/time.hpp"
#include "datasets/drift.hpp"
#include "datasets/expectations.hpp"
#include "datasets/profile.hpp"
#include "datasets/segment.hpp"
#include "datasets/values.hpp"
#include "storage/tar_writer.hpp"

namespace aimass::datasets {

using nlohmann::json;

namespace {

// A read-only mapping of a whole file (empty files map to an empty view).
class MappedFile {
 public:
  static Result<MappedFile> Open(const std::string& path) {
    MappedFile m;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::Internal("cannot read the upload");
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return Status::Internal("cannot read the upload");
    }
    m.size_ = static_cast<size_t>(st.st_size);
    if (m.size_) {
      m.data_ = ::mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (m.data_ == MAP_FAILED) {
        ::close(fd);
        return Status::Internal("cannot map the upload");
      }
      ::madvise(m.data_, m.size_, MADV_SEQUENTIAL | MADV_WILLNEED);
    }
    ::close(fd);
    return m;
  }
  MappedFile() = default;
  MappedFile(MappedFile&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  ~MappedFile() {
    if (data_) ::munmap(data_, size_);
  }
  std::string_view view() const { return {static_cast<const char*>(data_), size_}; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// Decompresses a gzip upload into a temp file (removed when this goes).
class Gunzipped {
 public:
  ~Gunzipped() {
    if (!path.empty()) ::unlink(path.c_str());
  }
  Status Run(const std::string& from, const std::string& temp_dir, uint64_t max_bytes) {
    // zlib reads anything that is not gzip as it is; a body declared gzip must be gzip.
    {
      int fd = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
      unsigned char magic[2] = {0, 0};
      bool ok = fd >= 0 && ::read(fd, magic, 2) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
      if (fd >= 0) ::close(fd);
      if (!ok) return Status::BadRequest("the body is not gzip (Content-Encoding: gzip)");
    }
    int out = CreateLockedTempFile(temp_dir + "/gunzip-", &path);
    if (out < 0) return Status::Internal("cannot create a temp file for the upload");
    gzFile in = gzopen(from.c_str(), "rb");
    if (!in) {
      ::close(out);
      return Status::Internal("cannot read the upload");
    }
    gzbuffer(in, 1 << 20);
    std::string buf(1 << 20, '\0');
    uint64_t total = 0;
    Status st = Status::Ok();
    while (true) {
      int n = gzread(in, buf.data(), static_cast<unsigned>(buf.size()));
      if (n < 0) {
        st = Status::BadRequest("the body is not valid gzip (Content-Encoding: gzip)");
        break;
      }
      if (n == 0) break;
      total += static_cast<uint64_t>(n);
      if (total > max_bytes) {
        st = Status::TooLarge("the upload expands beyond datasets.max_input_bytes (" + std::to_string(max_bytes) + " bytes)");
        break;
      }
      if (!WriteAll(out, std::string_view(buf.data(), static_cast<size_t>(n)))) {
        st = failpoint::IoError("writing the decompressed upload", errno);
        break;
      }
    }
    gzclose(in);
    ::close(out);
    return st;
  }
  std::string path;
};

std::string VersionDigest(const Schema& schema, const std::vector<Segment>& segments) {
  Sha256 h;
  h.Update(SchemaJson(schema).dump());
  h.Update("\n");
  for (const auto& s : segments) {
    h.Update(s.digest);
    h.Update("\n");
  }
  return "sha256:" + h.FinishHex();
}

bool AllDigits(std::string_view s) {
  return !s.empty() && s.size() <= 18 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void AppendJsonString(std::string& out, std::string_view v) {
  out += '"';
  for (unsigned char c : v) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

json CellJson(const ColumnData& c, size_t i) {
  if (c.IsNull(i)) return nullptr;
  switch (c.type) {
    case ColumnType::kInteger:
      return c.ints[i];
    case ColumnType::kFloat:
      return std::isfinite(c.floats[i]) ? json(c.floats[i]) : json(nullptr);
    case ColumnType::kBoolean:
      return c.ints[i] != 0;
    case ColumnType::kTimestamp:
      return FormatTimestamp(c.ints[i]);
    default:
      return std::string(c.Str(i));
  }
}

constexpr int64_t kAbandonedAfterMs = 10 * 60 * 1000;  // another host's writer that stored nothing for this long
constexpr auto kSweepEvery = std::chrono::minutes(1);
constexpr int kProfileTries = 4;

// Values come from users' files, which need not be valid UTF-8: replaced, never thrown on.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

Datasets::Datasets(storage::Db& db, storage::BlobStore& blobs, DatasetsOptions options)
    : store_(db), blobs_(blobs), options_(std::move(options)) {}

Datasets::~Datasets() { Stop(); }

Status Datasets::Open() {
  // One process writes a version from start to end; a version whose writer is gone was cut
  // short (its client got no answer), and is failed. Versions written whole but not profiled
  // are profiled here.
  AIMASS_ASSIGN_OR_RETURN(int64_t failed, store_.FailAbandoned(kAbandonedAfterMs));
  if (failed) spdlog::warn("datasets: {} version(s) cut short while written are failed (interrupted)", failed);
  AIMASS_ASSIGN_OR_RETURN(auto resume, store_.PendingProfiles());
  std::lock_guard lock(mu_);
  for (int64_t id : resume) queue_.push_back(id);
  return Status::Ok();
}

void Datasets::Start() {
  if (!options_.run_worker) return;
  std::lock_guard lock(mu_);
  if (worker_.joinable()) return;
  stopping_ = false;
  worker_ = NamedThread("datasets", [this] { Work(); });
}

void Datasets::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void Datasets::Enqueue(int64_t version_id) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(version_id);
  }
  cv_.notify_all();
}

void Datasets::WaitIdle() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [this] { return (queue_.empty() && !busy_) || !worker_.joinable(); });
}

void Datasets::Work() {
  std::unique_lock lock(mu_);
  auto next_sweep = std::chrono::steady_clock::now() + kSweepEvery;
  while (true) {
    cv_.wait_until(lock, next_sweep, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    if (std::chrono::steady_clock::now() >= next_sweep) {
      // Writers in other processes that died meanwhile (distributed mode).
      lock.unlock();
      (void)store_.FailAbandoned(kAbandonedAfterMs);
      lock.lock();
      next_sweep = std::chrono::steady_clock::now() + kSweepEvery;
      continue;
    }
    int64_t id = queue_.front();
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    Status st = Status::Ok();
    try {
      st = Process(id);
    } catch (const std::exception& e) {
      st = Status::Internal(std::string("profiling threw: ") + e.what());
    }
    if (!st.ok()) {
      // The data is stored and acknowledged: a failed profile never costs it. Tried again a
      // few times (a transient error), then the version is ready with the error as its profile.
      int tries = ++profile_tries_[id];
      spdlog::error("datasets: version {} could not be profiled (try {}): {}", id, tries, st.message());
      if (tries < kProfileTries) {
        lock.lock();
        cv_.wait_for(lock, std::chrono::seconds(tries), [this] { return stopping_; });
        queue_.push_back(id);
        busy_ = false;
        idle_cv_.notify_all();
        continue;
      }
      json note = {{"error", st.message()}, {"columns", json::array()}};
      (void)store_.FinishProfile(id, Dump(note), "", std::nullopt, UnixNowMs());
    }
    profile_tries_.erase(id);
    lock.lock();
    busy_ = false;
    idle_cv_.notify_all();
  }
}

void Datasets::Publish(const std::string& topic, const DatasetVersion& v, json extra) {
  if (!options_.bus) return;
  json data = {{"dataset", v.dataset}, {"version", v.version}, {"digest", v.digest}, {"row_count", v.row_count}};
  data.update(extra);
  options_.bus->Publish(topic, Dump(data));
}

Result<Datasets::Analysis> Datasets::Analyse(const DatasetVersion& v) {
  AIMASS_ASSIGN_OR_RETURN(Dataset d, store_.Get(v.dataset));
  AIMASS_ASSIGN_OR_RETURN(Table t, OpenTable(v));
  ProfileOptions po;
  po.threads = options_.threads;
  Analysis a;
  AIMASS_ASSIGN_OR_RETURN(json profile, ProfileTable(t, po));
  a.profile = Dump(profile);
  if (!d.expectations.empty()) {
    AIMASS_ASSIGN_OR_RETURN(json result, Validate(t, json::parse(d.expectations, nullptr, false), UnixNowMs()));
    result["meta"]["dataset"] = v.dataset;
    result["meta"]["version"] = v.version;
    a.success = result["success"].get<bool>();
    a.statistics = result["statistics"];
    a.validation = Dump(result);
  }
  return a;
}

Status Datasets::Process(int64_t version_id) {
  AIMASS_ASSIGN_OR_RETURN(DatasetVersion v, store_.GetVersionById(version_id));
  if (v.stage != "profiling") return Status::Ok();
  if (!v.collector.empty()) {
    // A collector's version with a later one of the same collector already queued: that one
    // holds these rows too (it appends to this one), so it alone is profiled and checked.
    std::vector<int64_t> later;
    {
      std::lock_guard lock(mu_);
      for (int64_t id : queue_) {
        if (id > version_id) later.push_back(id);
      }
    }
    for (int64_t id : later) {
      auto next = store_.GetVersionById(id);
      if (next.ok() && next->dataset_id == v.dataset_id && next->collector == v.collector) {
        json note = {{"skipped", true}, {"reason", "a later version of this collector was written: it is profiled instead"},
                     {"row_count", v.row_count}, {"columns", json::array()}};
        AIMASS_RETURN_IF_ERROR(store_.FinishProfile(v.id, Dump(note), "", std::nullopt, UnixNowMs()));
        v.status = "ready";
        Publish("dataset.version.ready", v, {{"validation", nullptr}, {"profiled", false}});
        return Status::Ok();
      }
    }
  }
  AIMASS_ASSIGN_OR_RETURN(Analysis a, Analyse(v));
  if (AIMASS_FAILPOINT("datasets.before_ready")) return failpoint::IoError("datasets.before_ready", EIO);
  AIMASS_RETURN_IF_ERROR(store_.FinishProfile(v.id, a.profile, a.validation, a.success, UnixNowMs()));
  v.status = "ready";
  Publish("dataset.version.ready", v, {{"validation", a.success ? json(*a.success ? "passed" : "failed") : json(nullptr)}});
  if (a.success && !*a.success) Publish("dataset.validation.failed", v, {{"statistics", a.statistics}});
  return Status::Ok();
}

Result<Dataset> Datasets::Create(const std::string& name, const std::string& description, DatasetKind kind,
                                 const std::string& owner) {
  AIMASS_RETURN_IF_ERROR(ValidateName("dataset", name, 128));
  if (description.size() > 10000) return Status::BadRequest("a description is at most 10,000 bytes");
  Dataset d;
  d.name = name;
  d.description = description;
  d.kind = kind;
  d.owner = owner;
  d.created_ms = d.updated_ms = UnixNowMs();
  return store_.Create(d);
}

Status Datasets::SetDescription(const std::string& name, const std::string& description) {
  if (description.size() > 10000) return Status::BadRequest("a description is at most 10,000 bytes");
  AIMASS_ASSIGN_OR_RETURN(Dataset d, store_.Get(name));
  d.description = description;
  d.updated_ms = UnixNowMs();
  return store_.Update(d);
}

Status Datasets::Delete(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(Dataset d, store_.Get(name));
  return store_.Delete(d.id);
}

Status Datasets::SetExpectations(const std::string& dataset, const json& suite) {
  AIMASS_ASSIGN_OR_RETURN(Dataset d, store_.Get(dataset));
  if (suite.is_null()) {
    d.expectations.clear();
  } else {
    AIMASS_ASSIGN_OR_RETURN(json parsed, ParseSuite(suite));
    d.expectations = parsed.dump();
  }
  d.updated_ms = UnixNowMs();
  return store_.Update(d);
}

Result<AddedVersion> Datasets::AddVersionFromBytes(const std::string& dataset, std::string_view body, Upload upload,
                                                   const Principal& who) {
  std::string path;
  const int fd = CreateLockedTempFile(blobs_.temp_dir() + "/version-", &path);
  if (fd < 0) return Status::Internal("cannot create a temp file for a version of dataset '" + dataset + "'");
  const bool written = WriteAll(fd, body);
  ::close(fd);
  struct Remove {
    std::string p;
    ~Remove() { ::unlink(p.c_str()); }
  } remove{path};
  if (!written) return Status::Internal("cannot write a version of dataset '" + dataset + "'");
  upload.body_path = path;
  upload.body_size = body.size();
  upload.body_sha256 = Sha256Hex(body);
  return AddVersion(dataset, upload, who);
}

Result<AddedVersion> Datasets::AddVersion(const std::string& dataset, const Upload& upload, const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(Dataset d, store_.Get(dataset));
  const bool files = d.kind == DatasetKind::kFiles;
  std::optional<TextFormat> format;
  if (files) {
    if (!storage::IsTarContentType(upload.content_type)) {
      return Status::BadRequest("dataset '" + dataset + "' holds files: upload a tar of them (application/x-tar, or gzip)");
    }
    if (upload.schema) return Status::BadRequest("a files dataset's schema is its manifest's: path, size, media_type, digest");
  } else {
    AIMASS_ASSIGN_OR_RETURN(format, FormatOf(upload.content_type));
  }
  std::shared_ptr<std::mutex> append_lock;
  std::unique_lock<std::mutex> appending;
  if (upload.append) {
    std::lock_guard lock(append_mu_);
    auto& m = append_locks_[d.id];
    if (!m) m = std::make_shared<std::mutex>();
    append_lock = m;
  }
  if (append_lock) appending = std::unique_lock(*append_lock);
  std::optional<DatasetVersion> parent;
  if (upload.append) {
    AIMASS_ASSIGN_OR_RETURN(DatasetVersion p, *upload.append == "latest" ? store_.LatestWhole(dataset) : Resolve(dataset, *upload.append));
    if (p.status == "failed" || p.stage == "writing") {
      return Status::Conflict("version " + std::to_string(p.version) + " is " + p.status + ": it takes no appends");
    }
    if (upload.schema && SchemaJson(*upload.schema) != SchemaJson(p.schema)) {
      return Status::BadRequest("an append uses its parent's schema; the declared one differs");
    }
    parent = std::move(p);
  } else {
    // The same bytes uploaded again (with no other schema declared) are the same version.
    AIMASS_ASSIGN_OR_RETURN(auto same, store_.FindByDigest(d.id, "source_sha256", upload.body_sha256, 0));
    if (same && !same->parent && (!upload.schema || SchemaJson(*upload.schema) == SchemaJson(same->schema))) {
      return AddedVersion{std::move(*same), false};
    }
  }
  bool created = false;
  if (files) {
    if (upload.body_size > options_.max_input_bytes) return Status::TooLarge("the upload is larger than datasets.max_input_bytes");
    storage::TarLimits limits{options_.max_files, options_.max_input_bytes};
    AIMASS_ASSIGN_OR_RETURN(storage::UnpackedTree tree, storage::UnpackTar(upload.body_path, blobs_.temp_dir(), limits));
    AIMASS_ASSIGN_OR_RETURN(DatasetVersion v, WriteFilesVersion(d, upload, tree, parent, who, &created));
    return AddedVersion{std::move(v), created};
  }
  Gunzipped gunzipped;
  std::string input = upload.body_path;
  if (upload.gzip) {
    AIMASS_RETURN_IF_ERROR(gunzipped.Run(upload.body_path, blobs_.temp_dir(), options_.max_input_bytes));
    input = gunzipped.path;
  } else if (upload.body_size > options_.max_input_bytes) {
    return Status::TooLarge("the upload is larger than datasets.max_input_bytes");
  }
  AIMASS_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::Open(input));
  AIMASS_ASSIGN_OR_RETURN(DatasetVersion v, WriteVersion(d, upload, mapped.view(), parent, who, *format, &created));
  return AddedVersion{std::move(v), created};
}

Result<DatasetVersion> Datasets::BeginVersion(const Dataset& d, const Upload& upload, const std::optional<DatasetVersion>& parent,
                                              const Principal& who, std::string_view format, uint64_t source_bytes) {
  DatasetVersion v;
  v.dataset_id = d.id;
  v.dataset = d.name;
  v.source_sha256 = upload.body_sha256;
  v.source_format = std::string(format);
  v.source_bytes = source_bytes;
  v.schema_declared = upload.schema.has_value() || (parent && parent->schema_declared);
  if (upload.schema) v.schema = *upload.schema;
  if (parent) {
    v.parent = parent->version;
    v.schema = parent->schema;
  }
  json lineage = json::parse(upload.lineage_json, nullptr, false);
  if (!lineage.is_object()) lineage = json::object();
  lineage["source"] = lineage.value("source", "upload");
  if (parent) lineage["parent"] = parent->version;
  v.lineage_json = lineage.dump();
  v.message = upload.message;
  v.collector = upload.collector;
  v.created_by = who.username;
  v.created_ms = UnixNowMs();
  AIMASS_ASSIGN_OR_RETURN(v, store_.InsertVersion(v));
  v.dataset = d.name;
  if (AIMASS_FAILPOINT("datasets.after_version_insert")) return failpoint::IoError("datasets.after_version_insert", EIO);
  return v;
}

Status Datasets::StoreSegment(int64_t version_id, int64_t seq, const EncodedSegment& seg, uint64_t* byte_size) {
  Segment s;
  s.seq = seq;
  s.digest = "sha256:" + Sha256Hex(seg.bytes);
  s.rows = seg.rows;
  s.bytes = seg.bytes.size();
  // The reference first: blob GC must never find these bytes unclaimed (decision 16).
  AIMASS_RETURN_IF_ERROR(store_.AddSegment(version_id, s));
  AIMASS_ASSIGN_OR_RETURN(auto writer, blobs_.NewWriter());
  AIMASS_RETURN_IF_ERROR(writer->Write(seg.bytes));
  AIMASS_ASSIGN_OR_RETURN(storage::BlobInfo info, writer->Commit());
  if (info.digest != s.digest) return Status::Internal("a segment's digest changed while it was stored");
  *byte_size += s.bytes;
  if (AIMASS_FAILPOINT("datasets.after_segment")) return failpoint::IoError("datasets.after_segment", EIO);
  return Status::Ok();
}

Result<DatasetVersion> Datasets::Complete(const Dataset& d, DatasetVersion v, bool* created) {
  AIMASS_ASSIGN_OR_RETURN(auto segments, store_.Segments(v.id));
  v.digest = VersionDigest(v.schema, segments);
  // Identical content (the same rows, schema and segments) is the same version.
  AIMASS_ASSIGN_OR_RETURN(auto same, store_.FindByDigest(d.id, "digest", v.digest, v.id));
  if (same) {
    (void)store_.Discard(v.id);
    *created = false;
    return std::move(*same);
  }
  AIMASS_RETURN_IF_ERROR(store_.FinishData(v));
  v.stage = "profiling";
  *created = true;
  Publish("dataset.version.created", v, {{"parent", v.parent ? json(*v.parent) : json(nullptr)}});
  Enqueue(v.id);
  return v;
}

Result<DatasetVersion> Datasets::WriteVersion(const Dataset& d, const Upload& upload, std::string_view data,
                                              const std::optional<DatasetVersion>& parent, const Principal& who,
                                              TextFormat format, bool* created) {
  AIMASS_ASSIGN_OR_RETURN(DatasetVersion v, BeginVersion(d, upload, parent, who, FormatName(format), data.size()));
  uint64_t byte_size = 0, rows_before = 0;
  int64_t seq = 0;
  if (parent) {
    AIMASS_ASSIGN_OR_RETURN(auto segs, store_.Segments(parent->id));
    AIMASS_RETURN_IF_ERROR(store_.CopySegments(parent->id, v.id));
    for (const auto& s : segs) byte_size += s.bytes;
    rows_before = parent->row_count;
    seq = static_cast<int64_t>(segs.size());
  }
  ParseOptions po;
  po.format = format;
  po.schema = v.schema;
  po.segment_rows = options_.segment_rows;
  po.threads = options_.threads;
  Result<ParsedTable> parsed =
      ParseTable(data, po, [&](EncodedSegment seg) { return StoreSegment(v.id, seq++, seg, &byte_size); });
  if (!parsed.ok()) {
    (void)store_.Discard(v.id);
    return parsed.status();
  }
  v.schema = parsed->schema;
  v.row_count = rows_before + parsed->rows;
  v.byte_size = byte_size;
  return Complete(d, std::move(v), created);
}

Result<DatasetVersion> Datasets::WriteFilesVersion(const Dataset& d, const Upload& upload, storage::UnpackedTree& tree,
                                                   const std::optional<DatasetVersion>& parent, const Principal& who,
                                                   bool* created) {
  uint64_t unpacked = 0;
  for (const auto& f : tree.files) unpacked += f.size;
  AIMASS_ASSIGN_OR_RETURN(DatasetVersion v, BeginVersion(d, upload, parent, who, "tar", unpacked));
  v.schema = FilesSchema();
  std::vector<DatasetFile> added;
  added.reserve(tree.files.size());
  for (const auto& f : tree.files) added.push_back({f.path, "sha256:" + f.sha256_hex, f.size, MediaTypeOf(f.path)});
  // The references (the parent's files, then these, replacing any of the same path) before
  // the bytes are adopted, as for segments.
  Status st = store_.AddFiles(v.id, parent ? std::optional<int64_t>(parent->id) : std::nullopt, added);
  for (size_t i = 0; st.ok() && i < tree.files.size(); ++i) {
    st = blobs_.Adopt(tree.files[i].temp_path, tree.files[i].sha256_hex).status();
  }
  Result<std::vector<DatasetFile>> files = st.ok() ? store_.Files(v.id, "", 0) : Result<std::vector<DatasetFile>>(st);
  if (!files.ok()) {
    (void)store_.Discard(v.id);
    return files.status();
  }
  // The manifest is the version's table: a row per file, in path order.
  uint64_t byte_size = 0;
  int64_t seq = 0;
  for (size_t start = 0; start < files->size(); start += options_.segment_rows) {
    size_t end = std::min(files->size(), start + options_.segment_rows);
    ColumnBuilder path(ColumnType::kString, end - start), size(ColumnType::kInteger, end - start),
        media(ColumnType::kCategorical, end - start), digest(ColumnType::kString, end - start);
    for (size_t i = start; i < end; ++i) {
      const DatasetFile& f = (*files)[i];
      path.AppendString(f.path);
      size.AppendInt(static_cast<int64_t>(f.size));
      media.AppendString(f.media_type);
      digest.AppendString(f.digest);
    }
    EncodedSegment seg;
    seg.rows = end - start;
    seg.bytes = EncodeSegment({path.Finish(), size.Finish(), media.Finish(), digest.Finish()});
    if (Status stored = StoreSegment(v.id, seq++, seg, &byte_size); !stored.ok()) {
      (void)store_.Discard(v.id);
      return stored;
    }
  }
  v.row_count = files->size();
  v.byte_size = byte_size;
  return Complete(d, std::move(v), created);
}

Result<std::vector<DatasetVersion>> Datasets::Versions(const std::string& dataset, int64_t limit, int64_t offset) {
  AIMASS_RETURN_IF_ERROR(store_.Get(dataset).status());
  return store_.Versions(dataset, limit, offset);
}

Result<DatasetVersion> Datasets::Resolve(const std::string& dataset, const std::string& ref) {
  if (AllDigits(ref)) {
    int64_t n = 0;
    std::from_chars(ref.data(), ref.data() + ref.size(), n);
    return store_.GetVersion(dataset, n);
  }
  AIMASS_ASSIGN_OR_RETURN(Dataset d, store_.Get(dataset));
  AIMASS_ASSIGN_OR_RETURN(auto aliases, store_.Aliases(d.id));
  if (auto it = aliases.find(ref); it != aliases.end()) return store_.GetVersion(dataset, it->second);
  if (ref == "latest") return store_.Latest(dataset);
  return Status::NotFound("dataset '" + dataset + "' has no version or alias '" + ref.substr(0, 128) + "'");
}

Result<Table> Datasets::OpenTable(const DatasetVersion& v) {
  if (v.status == "failed") return Status::Conflict("version " + std::to_string(v.version) + " failed: " + v.status_reason);
  if (v.stage == "writing") return Status::Unavailable("version " + std::to_string(v.version) + " is still being written");
  AIMASS_ASSIGN_OR_RETURN(auto segments, store_.Segments(v.id));
  std::vector<SegmentRef> refs;
  for (const auto& s : segments) {
    AIMASS_ASSIGN_OR_RETURN(std::string path, blobs_.LocalPath(s.digest));
    refs.push_back({std::move(path), s.rows, s.digest});
  }
  return Table(v.schema, std::move(refs));
}

std::optional<std::string> Datasets::IdText(const json& cell) {
  if (cell.is_string()) return cell.get<std::string>();
  if (cell.is_number_float()) {
    const double d = cell.get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return std::to_string(static_cast<int64_t>(d));
  }
  if (cell.is_number()) return cell.dump();
  return std::nullopt;
}

Result<json> Datasets::Rows(const DatasetVersion& v, uint64_t offset, uint64_t limit, const std::vector<std::string>& columns) {
  AIMASS_ASSIGN_OR_RETURN(Table t, OpenTable(v));
  std::vector<size_t> cols;
  if (columns.empty()) {
    for (size_t c = 0; c < t.schema().size(); ++c) cols.push_back(c);
  } else {
    for (const auto& name : columns) {
      int c = FindColumn(t.schema(), name);
      if (c < 0) return Status::BadRequest("the version has no column '" + name.substr(0, 128) + "'");
      cols.push_back(static_cast<size_t>(c));
    }
  }
  json names = json::array();
  for (size_t c : cols) names.push_back(t.schema()[c].name);
  json rows = json::array();
  uint64_t row = offset;
  const uint64_t end = std::min(t.rows(), offset + limit);
  while (row < end) {
    size_t s = t.SegmentOf(row);
    AIMASS_ASSIGN_OR_RETURN(auto data, t.ReadColumns(s, cols));
    uint64_t seg_end = std::min(end, t.segment_start(s) + t.segment_rows(s));
    for (; row < seg_end; ++row) {
      size_t i = row - t.segment_start(s);
      json r = json::object();
      for (size_t k = 0; k < cols.size(); ++k) r[t.schema()[cols[k]].name] = CellJson(data[k], i);
      rows.push_back(std::move(r));
    }
  }
  return json{{"dataset", v.dataset}, {"version", v.version}, {"offset", offset}, {"limit", limit},
              {"total", t.rows()},    {"columns", names},      {"rows", rows}};
}

Result<std::pair<std::string, DatasetFile>> Datasets::File(const DatasetVersion& v, const std::string& path) {
  if (v.status == "failed") return Status::Conflict("version " + std::to_string(v.version) + " failed: " + v.status_reason);
  AIMASS_ASSIGN_OR_RETURN(auto f, store_.GetFile(v.id, path));
  if (!f) return Status::NotFound("version " + std::to_string(v.version) + " of '" + v.dataset + "' has no file '" + path.substr(0, 256) + "'");
  AIMASS_ASSIGN_OR_RETURN(std::string local, blobs_.LocalPath(f->digest));
  return std::make_pair(std::move(local), std::move(*f));
}

Result<std::pair<std::string, uint64_t>> Datasets::Export(const DatasetVersion& v, const std::string& format) {
  AIMASS_ASSIGN_OR_RETURN(Dataset d, store_.Get(v.dataset));
  const bool files = d.kind == DatasetKind::kFiles;
  if (format != "csv" && format != "jsonl" && !(files && format == "tar")) {
    return Status::BadRequest(files ? "format is tar (the files), csv or jsonl (the manifest)" : "format is csv or jsonl");
  }
  AIMASS_ASSIGN_OR_RETURN(auto cached, store_.Export(v.id, format));
  if (cached) {
    auto path = blobs_.LocalPath(cached->first);
    if (path.ok() && ::access(path->c_str(), R_OK) == 0) return std::make_pair(*path, cached->second);
  }
  AIMASS_ASSIGN_OR_RETURN(Table t, OpenTable(v));
  AIMASS_ASSIGN_OR_RETURN(auto writer, blobs_.NewWriter());
  if (format == "tar") {
    AIMASS_ASSIGN_OR_RETURN(auto list, store_.Files(v.id, "", 0));
    std::vector<storage::TarMember> members;
    members.reserve(list.size());
    for (const auto& f : list) {
      AIMASS_ASSIGN_OR_RETURN(std::string source, blobs_.LocalPath(f.digest));
      members.push_back({f.path, f.size, false, std::move(source)});
    }
    storage::TarWriter tar(std::move(members), v.created_ms / 1000);
    std::string chunk;
    while (true) {
      chunk.clear();
      AIMASS_ASSIGN_OR_RETURN(bool more, tar.Next(chunk, 1 << 20));
      AIMASS_RETURN_IF_ERROR(writer->Write(chunk));
      if (!more) break;
    }
    AIMASS_ASSIGN_OR_RETURN(storage::BlobInfo info, writer->Commit());
    AIMASS_RETURN_IF_ERROR(store_.AddExport(v.id, format, info.digest, info.size));
    AIMASS_ASSIGN_OR_RETURN(std::string path, blobs_.LocalPath(info.digest));
    return std::make_pair(path, info.size);
  }
  std::string buf;
  const bool csv = format == "csv";
  const Schema& schema = t.schema();
  if (csv) {
    for (size_t c = 0; c < schema.size(); ++c) {
      if (c) buf += ',';
      AppendCsvField(buf, schema[c].name);
    }
    buf += '\n';
  }
  std::vector<size_t> all(schema.size());
  for (size_t c = 0; c < all.size(); ++c) all[c] = c;
  for (size_t s = 0; s < t.segment_count(); ++s) {
    AIMASS_ASSIGN_OR_RETURN(auto data, t.ReadColumns(s, all));
    for (size_t i = 0; i < t.segment_rows(s); ++i) {
      if (!csv) buf += '{';
      for (size_t c = 0; c < schema.size(); ++c) {
        const ColumnData& col = data[c];
        if (csv) {
          if (c) buf += ',';
          if (!col.IsNull(i)) AppendCsvField(buf, ValueText(col, i));
          continue;
        }
        if (c) buf += ',';
        AppendJsonString(buf, schema[c].name);
        buf += ':';
        if (col.IsNull(i)) {
          buf += "null";
        } else if (col.type == ColumnType::kInteger || col.type == ColumnType::kFloat || col.type == ColumnType::kBoolean) {
          buf += ValueText(col, i);
        } else {
          AppendJsonString(buf, ValueText(col, i));
        }
      }
      buf += csv ? "\n" : "}\n";
      if (buf.size() >= (1 << 20)) {
        AIMASS_RETURN_IF_ERROR(writer->Write(buf));
        buf.clear();
      }
    }
  }
  AIMASS_RETURN_IF_ERROR(writer->Write(buf));
  AIMASS_ASSIGN_OR_RETURN(storage::BlobInfo info, writer->Commit());
  AIMASS_RETURN_IF_ERROR(store_.AddExport(v.id, format, info.digest, info.size));
  AIMASS_ASSIGN_OR_RETURN(std::string path, blobs_.LocalPath(info.digest));
  return std::make_pair(path, info.size);
}

Result<json> Datasets::Drift(const DatasetVersion& v, const DatasetVersion& against) {
  AIMASS_ASSIGN_OR_RETURN(Table a, OpenTable(v));
  AIMASS_ASSIGN_OR_RETURN(Table b, OpenTable(against));
  AIMASS_ASSIGN_OR_RETURN(json report, DriftReport(a, b, options_.threads));
  report["dataset"] = v.dataset;
  report["version"] = v.version;
  report["against"] = against.version;
  return report;
}

Result<DatasetVersion> Datasets::Reprocess(const DatasetVersion& v) {
  if (v.status != "ready") return Status::Conflict("version " + std::to_string(v.version) + " is " + v.status);
  AIMASS_ASSIGN_OR_RETURN(Analysis a, Analyse(v));
  AIMASS_RETURN_IF_ERROR(store_.FinishProfile(v.id, a.profile, a.validation, a.success, UnixNowMs()));
  if (a.success && !*a.success) Publish("dataset.validation.failed", v, {{"statistics", a.statistics}});
  return store_.GetVersionById(v.id);
}

Result<std::optional<DatasetVersion>> Datasets::LatestWhole(const std::string& dataset) {
  AIMASS_RETURN_IF_ERROR(store_.Get(dataset).status());
  auto v = store_.LatestWhole(dataset);
  if (!v.ok()) {
    if (v.status().code() == Code::kNotFound) return std::optional<DatasetVersion>();
    return v.status();
  }
  return std::optional<DatasetVersion>(std::move(*v));
}

Result<std::optional<DatasetVersion>> Datasets::LastCollected(const std::string& dataset, const std::string& collector) {
  AIMASS_ASSIGN_OR_RETURN(Dataset d, store_.Get(dataset));
  return store_.LastCollected(d.id, collector);
}

Status Datasets::SetAlias(const std::string& dataset, const std::string& alias, int64_t version, const std::string& by) {
  AIMASS_RETURN_IF_ERROR(ValidateName("alias", alias, 64));
  if (AllDigits(alias)) return Status::BadRequest("an alias cannot be a number (numbers name versions)");
  AIMASS_ASSIGN_OR_RETURN(Dataset d, store_.Get(dataset));
  AIMASS_ASSIGN_OR_RETURN(DatasetVersion v, store_.GetVersion(dataset, version));
  if (v.status == "failed") return Status::Conflict("version " + std::to_string(version) + " failed");
  return store_.SetAlias(d.id, alias, version, by, UnixNowMs());
}

Status Datasets::DeleteAlias(const std::string& dataset, const std::string& alias) {
  AIMASS_ASSIGN_OR_RETURN(Dataset d, store_.Get(dataset));
  AIMASS_ASSIGN_OR_RETURN(bool gone, store_.DeleteAlias(d.id, alias));
  if (!gone) return Status::NotFound("dataset '" + dataset + "' has no alias '" + alias + "'");
  return Status::Ok();
}

Result<std::map<std::string, int64_t>> Datasets::Aliases(const std::string& dataset) {
  AIMASS_ASSIGN_OR_RETURN(Dataset d, store_.Get(dataset));
  return store_.Aliases(d.id);
}

}  // namespace aimass::datasets
