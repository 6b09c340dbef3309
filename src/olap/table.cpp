#include "olap/table.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <set>

#include <cerrno>

#include "common/failpoint.hpp"
#include "common/file.hpp"
#include "common/random.hpp"

namespace aimass::olap {

namespace fs = std::filesystem;
using nlohmann::json;

void Table::AddChunk(std::shared_ptr<const Chunk> chunk) {
  if (chunk->rows == 0) return;
  if (schema.has_time) {
    if (rows == 0) {
      time_min = chunk->time.min;
      time_max = chunk->time.max;
    } else {
      time_min = std::min(time_min, chunk->time.min);
      time_max = std::max(time_max, chunk->time.max);
    }
  }
  rows += chunk->rows;
  chunks.push_back(std::move(chunk));
  chunk_files.emplace_back();
}

size_t Table::memory() const {
  size_t m = 0;
  for (const auto& c : chunks) m += c->memory();
  for (const auto* dicts : {&code_dicts, &distinct_dicts}) {
    for (const auto& d : *dicts) {
      if (!d) continue;
      for (const auto& v : d->values()) m += v.size() + 48;
    }
  }
  return m;
}

Status SaveTable(Table& table, const std::string& dir, const json& extra) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::Internal("cannot create " + dir + ": " + ec.message());
  const std::string gen = RandomHex(8);
  for (size_t i = 0; i < table.chunks.size(); ++i) {
    if (!table.chunk_files[i].empty()) continue;
    const std::string name = "chunk-" + RandomHex(12) + ".olc";
    AIMASS_RETURN_IF_ERROR(WriteFileAtomically(dir + "/" + name, ChunkCodec::Encode(*table.chunks[i]), 0600));
    table.chunk_files[i] = name;
  }
  json dicts = json::array(), distinct = json::array(), chunks = json::array(), measures = json::array();
  for (size_t i = 0; i < table.code_dicts.size(); ++i) {
    const std::string name = "dict-" + std::to_string(i) + "-" + gen + ".bin";
    AIMASS_RETURN_IF_ERROR(WriteFileAtomically(dir + "/" + name, table.code_dicts[i]->Serialize(), 0600));
    dicts.push_back(name);
  }
  for (size_t i = 0; i < table.distinct_dicts.size(); ++i) {
    if (!table.distinct_dicts[i]) {
      distinct.push_back(nullptr);
      continue;
    }
    const std::string name = "distinct-" + std::to_string(i) + "-" + gen + ".bin";
    AIMASS_RETURN_IF_ERROR(WriteFileAtomically(dir + "/" + name, table.distinct_dicts[i]->Serialize(), 0600));
    distinct.push_back(name);
  }
  for (size_t i = 0; i < table.chunks.size(); ++i) chunks.push_back({{"file", table.chunk_files[i]}, {"rows", table.chunks[i]->rows}});
  for (const auto& m : table.schema.measures) measures.push_back({{"name", m.name}, {"distinct", m.distinct}});
  const json manifest = {{"format", 1},
                         {"code_columns", table.schema.code_columns},
                         {"has_time", table.schema.has_time},
                         {"time_level", table.schema.time_level ? json(TimeLevelName(*table.schema.time_level)) : json()},
                         {"pre_aggregated", table.schema.pre_aggregated},
                         {"measures", measures},
                         {"dictionaries", dicts},
                         {"distinct_dictionaries", distinct},
                         {"chunks", chunks},
                         {"extra", extra}};
  if (AIMASS_FAILPOINT("cube.before_manifest")) return failpoint::IoError("cube.before_manifest", EIO);
  AIMASS_RETURN_IF_ERROR(WriteFileAtomically(dir + "/manifest.json", manifest.dump(), 0600));
  if (AIMASS_FAILPOINT("cube.after_manifest")) return failpoint::IoError("cube.after_manifest", EIO);
  // Files no manifest names any more: older dictionaries, chunks of a table replaced whole.
  std::set<std::string> keep = {"manifest.json"};
  for (const auto& f : table.chunk_files) keep.insert(f);
  for (const auto& d : dicts) keep.insert(d.get<std::string>());
  for (const auto& d : distinct) {
    if (d.is_string()) keep.insert(d.get<std::string>());
  }
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!keep.count(e.path().filename().string())) fs::remove(e.path(), ec);
  }
  return Status::Ok();
}

Result<std::pair<std::shared_ptr<Table>, json>> LoadTable(const std::string& dir) {
  const std::string path = dir + "/manifest.json";
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::NotFound("no table in " + dir);
  AIMASS_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  const Status bad = Status::Internal("the cube table in " + dir + " has a damaged manifest");
  json m = json::parse(text, nullptr, false);
  if (!m.is_object() || m.value("format", 0) != 1) return bad;
  auto t = std::make_shared<Table>();
  try {
    t->schema.code_columns = m.at("code_columns").get<std::vector<std::string>>();
    t->schema.has_time = m.at("has_time").get<bool>();
    if (m.at("time_level").is_string()) {
      t->schema.time_level = ParseTimeLevel(m.at("time_level").get<std::string>());
      if (!t->schema.time_level) return bad;
    }
    t->schema.pre_aggregated = m.at("pre_aggregated").get<bool>();
    for (const auto& x : m.at("measures")) t->schema.measures.push_back({x.at("name").get<std::string>(), x.at("distinct").get<bool>()});
    for (const auto& f : m.at("dictionaries")) {
      AIMASS_ASSIGN_OR_RETURN(std::string data, ReadFile(dir + "/" + f.get<std::string>()));
      AIMASS_ASSIGN_OR_RETURN(Dictionary d, Dictionary::Parse(data));
      t->code_dicts.push_back(std::make_shared<Dictionary>(std::move(d)));
    }
    for (const auto& f : m.at("distinct_dictionaries")) {
      if (f.is_null()) {
        t->distinct_dicts.push_back(nullptr);
        continue;
      }
      AIMASS_ASSIGN_OR_RETURN(std::string data, ReadFile(dir + "/" + f.get<std::string>()));
      AIMASS_ASSIGN_OR_RETURN(Dictionary d, Dictionary::Parse(data));
      t->distinct_dicts.push_back(std::make_shared<Dictionary>(std::move(d)));
    }
    if (t->code_dicts.size() != t->schema.code_columns.size() || t->distinct_dicts.size() != t->schema.measures.size()) return bad;
    for (const auto& c : m.at("chunks")) {
      const std::string file = c.at("file").get<std::string>();
      if (file.find('/') != std::string::npos) return bad;
      AIMASS_ASSIGN_OR_RETURN(std::string data, ReadFile(dir + "/" + file));
      AIMASS_ASSIGN_OR_RETURN(Chunk chunk, ChunkCodec::Decode(data, t->code_dicts.size(), t->schema.measures.size()));
      if (chunk.rows == 0 || chunk.rows != c.at("rows").get<uint64_t>() || (t->schema.has_time != !chunk.time.offsets.empty())) return bad;
      for (size_t i = 0; i < chunk.codes.size(); ++i) {
        if (chunk.rows && chunk.codes[i].max() >= t->code_dicts[i]->size()) return bad;
      }
      for (size_t i = 0; i < chunk.measures.size(); ++i) {
        const auto& dc = chunk.measures[i].distinct.codes;
        if (dc.size() && (!t->distinct_dicts[i] || dc.max() >= t->distinct_dicts[i]->size())) return bad;
      }
      t->AddChunk(std::make_shared<Chunk>(std::move(chunk)));
      t->chunk_files.back() = file;
    }
  } catch (const json::exception&) {
    return bad;
  }
  return std::make_pair(t, m.value("extra", json::object()));
}

}  // namespace aimass::olap
