#include "behavior/project.hpp"

#include <zstd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "common/failpoint.hpp"
#include "common/file.hpp"
#include "common/fnv1a.hpp"
#include "common/time.hpp"
#include "mq/partition_log.hpp"

namespace aimass::behavior {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr uint64_t kLogSegmentBytes = 16u << 20;

void PutBlock(std::string& out, std::string_view b) {
  const uint64_t n = b.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out.append(b);
}

bool GetBlock(std::string_view& in, std::string_view* b) {
  uint64_t n = 0;
  if (in.size() < 8) return false;
  std::memcpy(&n, in.data(), 8);
  in.remove_prefix(8);
  if (n > in.size()) return false;
  *b = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

std::string PartFile(uint64_t id) { return "part-" + std::to_string(id) + ".bin"; }

// A property value as text in a text column: strings as they are, anything else as JSON.
std::string ValueText(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace

uint64_t ProjectState::rows() const {
  uint64_t n = fresh.rows();
  for (const auto& p : parts) n += p->rows();
  return n;
}

Project::Project(std::string name, ProjectOptions options) : name_(std::move(name)), opt_(std::move(options)) {}

Project::~Project() = default;

Result<std::unique_ptr<Project>> Project::Open(std::string name, ProjectOptions options) {
  std::unique_ptr<Project> p(new Project(std::move(name), std::move(options)));
  std::error_code ec;
  fs::create_directories(p->opt_.dir + "/log", ec);
  if (ec) return Status::Internal("cannot create " + p->opt_.dir + ": " + ec.message());
  try {
    AIMASS_RETURN_IF_ERROR(p->Recover());
  } catch (const json::exception& e) {
    // Only a damaged checkpoint holds JSON of the wrong shape.
    return Status::Internal("the checkpoint in " + p->opt_.dir + " is damaged: " + e.what());
  }
  return p;
}

Status Project::Recover() {
  const std::string manifest_path = opt_.dir + "/manifest.json";
  std::unordered_set<std::string> keep{"manifest.json", "log"};
  if (fs::exists(manifest_path)) {
    AIMASS_ASSIGN_OR_RETURN(std::string text, ReadFile(manifest_path));
    json m = json::parse(text, nullptr, false);
    if (m.is_discarded() || !m.is_object()) return Status::Internal(manifest_path + " is damaged");
    checkpoint_offset_ = m.value("log_offset", uint64_t{0});
    const std::string state_file = m.value("state", "");
    keep.insert(state_file);
    AIMASS_ASSIGN_OR_RETURN(std::string z, ReadFile(opt_.dir + "/" + state_file));
    const unsigned long long raw_size = ZSTD_getFrameContentSize(z.data(), z.size());
    if (raw_size == ZSTD_CONTENTSIZE_ERROR || raw_size == ZSTD_CONTENTSIZE_UNKNOWN || raw_size > (1ull << 40)) {
      return Status::Internal(state_file + " is damaged");
    }
    std::string raw(raw_size, '\0');
    const size_t n = ZSTD_decompress(raw.data(), raw.size(), z.data(), z.size());
    if (ZSTD_isError(n) || n != raw_size) return Status::Internal(state_file + " is damaged");
    std::string_view in(raw), b;
    const Status bad = Status::Internal(state_file + " is damaged");
    if (!GetBlock(in, &b)) return bad;
    AIMASS_ASSIGN_OR_RETURN(state_.events, olap::Dictionary::Parse(b));
    if (!GetBlock(in, &b)) return bad;
    AIMASS_ASSIGN_OR_RETURN(state_.distinct, olap::Dictionary::Parse(b));
    if (!GetBlock(in, &b)) return bad;
    json meta = json::parse(b, nullptr, false);
    if (meta.is_discarded() || !meta.is_object() || !meta.contains("keys") || !meta.contains("persons")) return bad;
    for (const auto& k : meta["keys"]) {
      PropertyKey key;
      key.name = k.value("name", "");
      key.numeric = k.value("numeric", false);
      if (!GetBlock(in, &b)) return bad;
      AIMASS_ASSIGN_OR_RETURN(key.dict, olap::Dictionary::Parse(b));
      state_.key_index[key.name] = state_.keys.size();
      state_.keys.push_back(std::move(key));
    }
    AIMASS_ASSIGN_OR_RETURN(state_.persons, Persons::Parse(meta["persons"]));
    state_.next_part = meta.value("next_part", uint64_t{1});
    if (!GetBlock(in, &b) || b.size() % 8 != 0) return bad;
    state_.seen.reserve(b.size() / 8);
    for (size_t i = 0; i < b.size(); i += 8) {
      uint64_t h;
      std::memcpy(&h, b.data() + i, 8);
      state_.seen.insert(h);
    }
    for (const auto& id : m.value("parts", json::array())) {
      const std::string file = PartFile(id.get<uint64_t>());
      keep.insert(file);
      AIMASS_ASSIGN_OR_RETURN(std::string data, ReadFile(opt_.dir + "/" + file));
      AIMASS_ASSIGN_OR_RETURN(auto part, DecodePart(data));
      state_.parts.push_back(std::move(part));
    }
  }
  // Files a crash left between writing them and the manifest naming them.
  for (const auto& e : fs::directory_iterator(opt_.dir)) {
    if (!keep.count(e.path().filename().string())) {
      std::error_code ec;
      fs::remove(e.path(), ec);
    }
  }
  state_.persons.Grow(state_.distinct.size());
  mq::LogOptions lo;
  lo.dir = opt_.dir + "/log";
  lo.fsync = opt_.fsync ? mq::FsyncPolicy::kAlways : mq::FsyncPolicy::kNever;
  lo.segment_bytes = kLogSegmentBytes;
  uint64_t replayed = 0;
  auto log = mq::PartitionLog::Open(lo, [&](const mq::Message& m) {
    if (m.offset < checkpoint_offset_ || m.body.empty()) return;
    ApplyRecord(static_cast<uint8_t>(m.body[0]), std::string_view(m.body).substr(1));
    ++replayed;
  });
  if (!log.ok()) return log.status();
  log_ = std::move(*log);
  if (replayed) spdlog::info("behavior project {}: {} log records replayed after the checkpoint", name_, replayed);
  return Status::Ok();
}

Status Project::Append(uint8_t type, std::string payload) {
  std::vector<mq::Message> batch(1);
  batch[0].body.reserve(payload.size() + 1);
  batch[0].body.push_back(static_cast<char>(type));
  batch[0].body.append(payload);
  mq::PartitionLog::Written w;
  {
    std::unique_lock lock(mu_);
    if (destroyed_) return Status::NotFound("project '" + name_ + "' was deleted");
    AIMASS_ASSIGN_OR_RETURN(w, log_->Write(batch, UnixNowMs()));
    ApplyRecord(type, std::string_view(batch[0].body).substr(1));
  }
  return log_->WaitDurable(w.ticket);
}

Result<size_t> Project::Capture(std::vector<Event> events) {
  bool any_id = false;
  for (const auto& e : events) any_id |= !e.uuid.empty();
  std::string payload;
  if (!any_id) payload = EncodeEvents(events);
  mq::PartitionLog::Written w;
  size_t stored = 0;
  {
    std::unique_lock lock(mu_);
    if (destroyed_) return Status::NotFound("project '" + name_ + "' was deleted");
    if (any_id) {
      // Drop the ids seen before (or twice in this batch); the log keeps only what is new.
      std::unordered_set<uint64_t> batch_ids;
      std::vector<Event> fresh;
      fresh.reserve(events.size());
      for (auto& e : events) {
        if (!e.uuid.empty()) {
          const uint64_t h = Fnv1a(e.uuid);
          if (state_.seen.count(h) || !batch_ids.insert(h).second) {
            ++state_.duplicates;
            continue;
          }
        }
        fresh.push_back(std::move(e));
      }
      events = std::move(fresh);
      if (events.empty()) return size_t{0};
      payload = EncodeEvents(events);
    }
    std::vector<mq::Message> batch(1);
    batch[0].body.reserve(payload.size() + 1);
    batch[0].body.push_back(static_cast<char>(RecordType::kEvents));
    batch[0].body.append(payload);
    AIMASS_ASSIGN_OR_RETURN(w, log_->Write(batch, UnixNowMs()));
    Apply(events);
    stored = events.size();
  }
  if (AIMASS_FAILPOINT("behavior.after_capture_write")) return failpoint::IoError("behavior.after_capture_write", EIO);
  AIMASS_RETURN_IF_ERROR(log_->WaitDurable(w.ticket));
  return stored;
}

Status Project::Alias(const std::string& distinct_id, const std::string& alias) {
  return Append(static_cast<uint8_t>(RecordType::kAlias), json{{"distinct_id", distinct_id}, {"alias", alias}}.dump());
}

Status Project::SetProperties(const std::vector<std::pair<std::string, json>>& persons) {
  json list = json::array();
  for (const auto& [id, props] : persons) list.push_back({id, props});
  return Append(static_cast<uint8_t>(RecordType::kPersonSet), list.dump());
}

void Project::ApplyRecord(uint8_t type, std::string_view payload) {
  switch (static_cast<RecordType>(type)) {
    case RecordType::kEvents: {
      auto events = DecodeEvents(payload);
      if (!events.ok()) {
        spdlog::error("behavior project {}: {}", name_, events.status().message());
        return;
      }
      // Replayed events were deduplicated when they were written, but their ids must be seen again.
      Apply(*events);
      return;
    }
    case RecordType::kAlias: {
      json j = json::parse(payload, nullptr, false);
      if (j.is_discarded()) return;
      const uint32_t into = state_.distinct.Add(j.value("distinct_id", ""));
      const uint32_t from = state_.distinct.Add(j.value("alias", ""));
      state_.persons.Grow(state_.distinct.size());
      state_.persons.Merge(from, into);
      return;
    }
    case RecordType::kPersonSet: {
      json j = json::parse(payload, nullptr, false);
      if (j.is_discarded() || !j.is_array()) return;
      for (const auto& p : j) {
        if (!p.is_array() || p.size() != 2 || !p[0].is_string()) continue;
        const uint32_t d = state_.distinct.Add(p[0].get<std::string>());
        state_.persons.Grow(state_.distinct.size());
        state_.persons.Set(d, p[1], false);
      }
      return;
    }
  }
  spdlog::error("behavior project {}: a log record of unknown type {}", name_, static_cast<int>(type));
}

void Project::Apply(const std::vector<Event>& events) {
  ProjectState& s = state_;
  EventColumns& f = s.fresh;
  for (const Event& e : events) {
    if (!e.uuid.empty()) s.seen.insert(Fnv1a(e.uuid));
    const uint32_t d = s.distinct.Add(e.distinct_id);
    s.persons.Grow(s.distinct.size());
    const size_t row = f.rows();
    f.distinct.push_back(d);
    f.event.push_back(s.events.Add(e.event));
    f.time.push_back(e.time_ms);
    for (const auto& [k, v] : e.properties.items()) {
      if (v.is_null()) continue;
      if (k == "$set" || k == "$set_once") {
        s.persons.Set(d, v, k == "$set_once");
        continue;
      }
      if (k == "$unset") {
        s.persons.Unset(d, v);
        continue;
      }
      auto it = s.key_index.find(k);
      if (it == s.key_index.end()) {
        PropertyKey key;
        key.name = k;
        key.numeric = v.is_number();
        it = s.key_index.emplace(k, s.keys.size()).first;
        s.keys.push_back(std::move(key));
      }
      PropertyKey& key = s.keys[it->second];
      if (key.numeric) {
        double x = std::nan("");
        if (v.is_number()) x = v.get<double>();
        else if (v.is_string()) {
          const std::string& t = v.get_ref<const std::string&>();
          std::from_chars(t.data(), t.data() + t.size(), x);
        }
        if (!std::isnan(x)) f.SetNumber(it->second, row, x);
      } else {
        f.SetCode(it->second, row, key.dict.Add(ValueText(v)));
      }
    }
    // Identity: $identify names the anonymous id the person had, $create_alias another id.
    if (e.event == "$identify" || e.event == "$create_alias") {
      const char* field = e.event == "$identify" ? "$anon_distinct_id" : "alias";
      auto it = e.properties.find(field);
      if (it != e.properties.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
        const uint32_t other = s.distinct.Add(it->get<std::string>());
        s.persons.Grow(s.distinct.size());
        s.persons.Merge(other, d);
      }
    }
  }
}

void Project::FreezeLocked() {
  if (state_.fresh.rows() == 0) return;
  state_.parts.push_back(BuildPart(state_.next_part++, {&state_.fresh}));
  state_.fresh = EventColumns();
}

Snapshot Project::Take() {
  Snapshot s;
  bool taken = false;
  {
    std::shared_lock lock(mu_);
    if (state_.fresh.rows() == 0) {
      s.parts = state_.parts;
      s.roots = state_.persons.Roots();
      taken = true;
    }
  }
  if (!taken) {
    std::unique_lock lock(mu_);
    FreezeLocked();
    s.parts = state_.parts;
    s.roots = state_.persons.Roots();
  }
  // Persons with several ids, as CSR: a count per root, then the ids in code order.
  const size_t n = s.roots.size();
  bool merged = false;
  for (uint32_t d = 0; d < n && !merged; ++d) merged = s.roots[d] != d;
  if (merged) {
    std::vector<uint32_t> extra(n, 0);
    for (uint32_t d = 0; d < n; ++d) {
      if (s.roots[d] != d) ++extra[s.roots[d]];
    }
    s.ids_begin.assign(n + 1, 0);
    for (uint32_t d = 0; d < n; ++d) s.ids_begin[d + 1] = s.ids_begin[d] + (extra[d] ? extra[d] + 1 : 0);
    s.ids.resize(s.ids_begin[n]);
    std::vector<uint32_t> fill(s.ids_begin.begin(), s.ids_begin.end() - 1);
    for (uint32_t d = 0; d < n; ++d) {
      const uint32_t r = s.roots[d];
      if (extra[r]) s.ids[fill[r]++] = d;
    }
  }
  return s;
}

Result<bool> Project::Maintain(bool force_checkpoint) {
  std::lock_guard m(maintain_mu_);
  bool did = false;
  {
    std::shared_lock lock(mu_);
    if (destroyed_) return false;
  }
  {
    std::unique_lock lock(mu_);
    if (state_.fresh.rows() >= opt_.freeze_rows || (force_checkpoint && state_.fresh.rows())) {
      FreezeLocked();
      did = true;
    }
  }
  // Merge the newest parts while they are small beside the one before them (sizes then grow
  // geometrically: few parts, each row rewritten a few times), or when there are too many.
  std::vector<std::shared_ptr<const Part>> parts;
  {
    std::shared_lock lock(mu_);
    parts = state_.parts;
  }
  const size_t n = parts.size();
  if (n >= 2) {
    size_t i = n - 1, sum = parts[n - 1]->rows();
    while (i > 0 && (sum * 2 >= parts[i - 1]->rows() || n - i < n - 8)) sum += parts[--i]->rows();
    if (n - i >= 2) {
      std::vector<const EventColumns*> inputs;
      for (size_t k = i; k < n; ++k) inputs.push_back(&parts[k]->cols);
      uint64_t id;
      {
        std::unique_lock lock(mu_);
        id = state_.next_part++;
      }
      auto merged = BuildPart(id, inputs);
      std::unique_lock lock(mu_);
      // Only maintenance removes parts, so the merged ones are still at i..n.
      auto& cur = state_.parts;
      cur.erase(cur.begin() + static_cast<std::ptrdiff_t>(i), cur.begin() + static_cast<std::ptrdiff_t>(n));
      cur.insert(cur.begin() + static_cast<std::ptrdiff_t>(i), std::move(merged));
      did = true;
    }
  }
  // Checkpoints only when asked (every behavior.checkpoint_s): each writes the dictionaries and
  // persons whole, so one after every freeze or merge would cost more than the log it saves.
  bool unsaved = false;
  if (force_checkpoint) {
    std::shared_lock lock(mu_);
    for (const auto& p : state_.parts) unsaved |= !p->saved;
    unsaved |= log_->next_offset() > checkpoint_offset_;
  }
  if (unsaved) {
    AIMASS_RETURN_IF_ERROR(Checkpoint());
    did = true;
  }
  return did;
}

Status Project::Checkpoint() {
  std::vector<std::shared_ptr<const Part>> parts;
  std::string raw;
  uint64_t offset;
  {
    std::unique_lock lock(mu_);
    FreezeLocked();
    parts = state_.parts;
    offset = log_->next_offset();
    PutBlock(raw, state_.events.Serialize());
    PutBlock(raw, state_.distinct.Serialize());
    json keys = json::array();
    for (const auto& k : state_.keys) keys.push_back({{"name", k.name}, {"numeric", k.numeric}});
    PutBlock(raw, json{{"keys", keys}, {"persons", state_.persons.Serialize()}, {"next_part", state_.next_part}}.dump());
    for (const auto& k : state_.keys) PutBlock(raw, k.dict.Serialize());
    std::string seen;
    seen.reserve(state_.seen.size() * 8);
    for (uint64_t h : state_.seen) seen.append(reinterpret_cast<const char*>(&h), 8);
    PutBlock(raw, seen);
  }
  json ids = json::array();
  for (const auto& p : parts) {
    ids.push_back(p->id);
    if (p->saved) continue;
    AIMASS_RETURN_IF_ERROR(WriteFileAtomically(opt_.dir + "/" + PartFile(p->id), EncodePart(*p), 0600));
    const_cast<Part&>(*p).saved = true;  // written once; only maintenance (one at a time) reads the flag
  }
  std::string z(ZSTD_compressBound(raw.size()), '\0');
  z.resize(ZSTD_compress(z.data(), z.size(), raw.data(), raw.size(), 1));
  const std::string state_file = "state-" + std::to_string(offset) + ".bin";
  AIMASS_RETURN_IF_ERROR(WriteFileAtomically(opt_.dir + "/" + state_file, z, 0600));
  if (AIMASS_FAILPOINT("behavior.before_checkpoint_manifest")) return failpoint::IoError("behavior.before_checkpoint_manifest", EIO);
  AIMASS_RETURN_IF_ERROR(WriteFileAtomically(
      opt_.dir + "/manifest.json", json{{"parts", ids}, {"state", state_file}, {"log_offset", offset}}.dump(), 0600));
  checkpoint_offset_ = offset;
  std::unordered_set<std::string> keep{"manifest.json", "log", state_file};
  for (const auto& id : ids) keep.insert(PartFile(id.get<uint64_t>()));
  for (const auto& e : fs::directory_iterator(opt_.dir)) {
    if (!keep.count(e.path().filename().string())) {
      std::error_code ec;
      fs::remove(e.path(), ec);
    }
  }
  if (AIMASS_FAILPOINT("behavior.before_log_drop")) return failpoint::IoError("behavior.before_log_drop", EIO);
  log_->DropBefore(offset);
  return Status::Ok();
}

json Project::Stats() const {
  std::shared_lock lock(mu_);
  size_t memory = state_.fresh.memory();
  for (const auto& p : state_.parts) memory += p->memory();
  return {{"events", state_.rows()},
          {"distinct_ids", state_.distinct.size() - 1},
          {"event_names", state_.events.size() - 1},
          {"properties", state_.keys.size()},
          {"persons_with_properties", state_.persons.all_properties().size()},
          {"parts", state_.parts.size()},
          {"memory_bytes", memory},
          {"duplicates_skipped", state_.duplicates},
          {"log_bytes", log_->bytes()}};
}

Status Project::Destroy() {
  std::lock_guard m(maintain_mu_);
  std::unique_lock lock(mu_);
  destroyed_ = true;
  // The log stays open (its files unlinked) for captures that hold the project now.
  std::error_code ec;
  fs::remove_all(opt_.dir, ec);
  if (ec) return Status::Internal("cannot delete " + opt_.dir + ": " + ec.message());
  return Status::Ok();
}

}  // namespace aimass::behavior
