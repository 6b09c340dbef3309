#include "collector/spec.hpp"

#include <re2/re2.h>

#include "common/name.hpp"

namespace aimass::collector {

using nlohmann::json;

namespace {

Status Allowed(const json& obj, std::initializer_list<const char*> keys, const std::string& where) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (const char* k : keys) ok = ok || it.key() == k;
    if (!ok) return Status::BadRequest("unknown field '" + it.key().substr(0, 64) + "' in " + where);
  }
  return Status::Ok();
}

Status NeedString(const json& obj, const char* key, const std::string& where, bool required = true) {
  if (!obj.contains(key)) return required ? Status::BadRequest(where + "." + key + " is required") : Status::Ok();
  if (!obj[key].is_string() || obj[key].get<std::string>().empty()) {
    return Status::BadRequest(where + "." + key + " must be a non-empty string");
  }
  return Status::Ok();
}

// json (one object per line), csv (a header line, or `columns`), regex (named groups).
Status CheckFormat(const json& src) {
  std::string format = src.value("format", "json");
  if (format != "json" && format != "csv" && format != "regex") {
    return Status::BadRequest("source.format is json, csv or regex");
  }
  if (format == "regex") {
    AIMASS_RETURN_IF_ERROR(NeedString(src, "pattern", "source"));
    RE2 re(src["pattern"].get<std::string>(), RE2::Quiet);
    if (!re.ok()) return Status::BadRequest("source.pattern does not compile: " + re.error());
    if (re.NamedCapturingGroups().empty()) return Status::BadRequest("source.pattern needs named groups: (?P<name>…)");
  } else if (src.contains("pattern")) {
    return Status::BadRequest("source.pattern goes with format regex");
  }
  if (src.contains("columns")) {
    if (format != "csv" || !src["columns"].is_array() || src["columns"].empty()) {
      return Status::BadRequest("source.columns is a list of names, for format csv");
    }
    for (const auto& c : src["columns"]) {
      if (!c.is_string() || c.get<std::string>().empty()) return Status::BadRequest("source.columns holds names");
    }
  }
  return Status::Ok();
}

}  // namespace

std::string_view SourceTypeName(SourceType t) {
  switch (t) {
    case SourceType::kFileTail: return "file_tail";
    case SourceType::kDirectory: return "directory";
    case SourceType::kHttp: return "http";
    case SourceType::kSql: return "sql";
    case SourceType::kMq: return "mq";
    case SourceType::kMqtt: return "mqtt";
  }
  return "http";
}

Result<CollectorSpec> ParseCollectorSpec(const json& body) {
  if (!body.is_object()) return Status::BadRequest("a collector is a JSON object");
  AIMASS_RETURN_IF_ERROR(Allowed(body, {"name", "dataset", "source", "batch", "schedule", "time_zone", "schema", "paused"}, "the collector"));
  CollectorSpec s;
  AIMASS_RETURN_IF_ERROR(NeedString(body, "name", "collector"));
  s.name = body["name"].get<std::string>();
  AIMASS_RETURN_IF_ERROR(ValidateName("collector", s.name, 128));
  AIMASS_RETURN_IF_ERROR(NeedString(body, "dataset", "collector"));
  s.dataset = body["dataset"].get<std::string>();
  if (!body.contains("source") || !body["source"].is_object()) return Status::BadRequest("source is required: {\"type\": …}");
  const json& src = body["source"];
  AIMASS_RETURN_IF_ERROR(NeedString(src, "type", "source"));
  const std::string type = src["type"].get<std::string>();
  if (type == "file_tail") {
    s.type = SourceType::kFileTail;
    AIMASS_RETURN_IF_ERROR(Allowed(src, {"type", "path", "format", "pattern", "columns", "from"}, "source"));
    AIMASS_RETURN_IF_ERROR(NeedString(src, "path", "source"));
    if (src["path"].get<std::string>()[0] != '/') return Status::BadRequest("source.path must be absolute");
    std::string from = src.value("from", "beginning");
    if (from != "beginning" && from != "end") return Status::BadRequest("source.from is beginning or end");
    AIMASS_RETURN_IF_ERROR(CheckFormat(src));
  } else if (type == "directory") {
    s.type = SourceType::kDirectory;
    AIMASS_RETURN_IF_ERROR(Allowed(src, {"type", "path", "glob", "format", "pattern", "columns"}, "source"));
    AIMASS_RETURN_IF_ERROR(NeedString(src, "path", "source"));
    if (src["path"].get<std::string>()[0] != '/') return Status::BadRequest("source.path must be absolute");
    AIMASS_RETURN_IF_ERROR(NeedString(src, "glob", "source", false));
    AIMASS_RETURN_IF_ERROR(CheckFormat(src));
  } else if (type == "http") {
    s.type = SourceType::kHttp;
    AIMASS_RETURN_IF_ERROR(Allowed(src, {"type"}, "source"));
  } else if (type == "mq") {
    s.type = SourceType::kMq;
    AIMASS_RETURN_IF_ERROR(Allowed(src, {"type", "topic"}, "source"));
    AIMASS_RETURN_IF_ERROR(NeedString(src, "topic", "source"));
  } else if (type == "sql") {
    s.type = SourceType::kSql;
    AIMASS_RETURN_IF_ERROR(Allowed(src, {"type", "driver", "path", "dsn", "query", "cursor_column", "cursor_start"}, "source"));
    std::string driver = src.value("driver", "");
    if (driver == "sqlite") {
      AIMASS_RETURN_IF_ERROR(NeedString(src, "path", "source"));
    } else if (driver == "postgres") {
      AIMASS_RETURN_IF_ERROR(NeedString(src, "dsn", "source"));
    } else {
      return Status::BadRequest("source.driver is sqlite or postgres");
    }
    AIMASS_RETURN_IF_ERROR(NeedString(src, "query", "source"));
    AIMASS_RETURN_IF_ERROR(NeedString(src, "cursor_column", "source"));
    const std::string col = src["cursor_column"].get<std::string>();
    if (col.find('"') != std::string::npos) return Status::BadRequest("source.cursor_column cannot hold a double quote");
    if (src.contains("cursor_start") && !src["cursor_start"].is_number() && !src["cursor_start"].is_string()) {
      return Status::BadRequest("source.cursor_start is a number or a string");
    }
  } else if (type == "mqtt") {
    s.type = SourceType::kMqtt;
    AIMASS_RETURN_IF_ERROR(Allowed(src, {"type", "host", "port", "topic", "topics", "client_id", "username", "password", "qos",
                                         "topic_column"}, "source"));
    AIMASS_RETURN_IF_ERROR(NeedString(src, "host", "source"));
    if (src.contains("port") && (!src["port"].is_number_integer() || src["port"].get<int64_t>() < 1 || src["port"].get<int64_t>() > 65535)) {
      return Status::BadRequest("source.port is 1 to 65535");
    }
    bool one = src.contains("topic"), many = src.contains("topics");
    if (one == many) return Status::BadRequest("source.topic (or source.topics, a list) is required, not both");
    if (one) AIMASS_RETURN_IF_ERROR(NeedString(src, "topic", "source"));
    if (many) {
      if (!src["topics"].is_array() || src["topics"].empty() || src["topics"].size() > 64) {
        return Status::BadRequest("source.topics is a list of 1 to 64 topic filters");
      }
      for (const auto& t : src["topics"]) {
        if (!t.is_string() || t.get<std::string>().empty()) return Status::BadRequest("source.topics holds topic filters");
      }
    }
    for (const char* k : {"client_id", "username", "password", "topic_column"}) {
      AIMASS_RETURN_IF_ERROR(NeedString(src, k, "source", false));
    }
    if (src.contains("qos") && (!src["qos"].is_number_integer() || src["qos"].get<int64_t>() < 0 || src["qos"].get<int64_t>() > 1)) {
      return Status::BadRequest("source.qos is 0 or 1 (exactly once needs 1)");
    }
  } else {
    return Status::BadRequest("source.type is file_tail, directory, http, sql, mq or mqtt");
  }
  s.source = src;
  if (body.contains("batch")) {
    const json& b = body["batch"];
    if (!b.is_object()) return Status::BadRequest("batch is {max_rows, max_wait_s}");
    AIMASS_RETURN_IF_ERROR(Allowed(b, {"max_rows", "max_wait_s"}, "batch"));
    if (b.contains("max_rows")) {
      if (!b["max_rows"].is_number_integer() || b["max_rows"].get<int64_t>() < 1 || b["max_rows"].get<int64_t>() > 10000000) {
        return Status::BadRequest("batch.max_rows is an integer from 1 to 10,000,000");
      }
      s.max_rows = b["max_rows"].get<size_t>();
    }
    if (b.contains("max_wait_s")) {
      if (!b["max_wait_s"].is_number() || b["max_wait_s"].get<double>() < 0.01 || b["max_wait_s"].get<double>() > 86400) {
        return Status::BadRequest("batch.max_wait_s is a number of seconds from 0.01 to 86400");
      }
      s.max_wait_s = b["max_wait_s"].get<double>();
    }
  }
  if (body.contains("schedule")) {
    if (s.type != SourceType::kSql) return Status::BadRequest("schedule goes with source type sql");
    AIMASS_RETURN_IF_ERROR(NeedString(body, "schedule", "collector"));
    s.schedule = body["schedule"].get<std::string>();
  }
  if (body.contains("time_zone")) {
    if (!body["time_zone"].is_string()) return Status::BadRequest("time_zone is an IANA zone name");
    s.time_zone = body["time_zone"].get<std::string>();
  }
  if (s.type == SourceType::kSql && s.schedule.empty()) return Status::BadRequest("a sql collector needs a schedule (cron)");
  if (body.contains("schema")) {
    AIMASS_ASSIGN_OR_RETURN(datasets::Schema schema, datasets::ParseSchema(body["schema"]));
    s.schema = std::move(schema);
  }
  return s;
}

json SpecJson(const CollectorSpec& s, bool reveal_secrets) {
  json src = s.source;
  if (!reveal_secrets && src.contains("password")) src["password"] = "***";
  if (!reveal_secrets && src.contains("dsn")) {
    // key=value or URI: hide whatever follows password= or the user's colon before @.
    std::string dsn = src["dsn"].get<std::string>();
    static const RE2 kv("(password\\s*=\\s*)('(?:[^'\\\\]|\\\\.)*'|\\S+)");
    static const RE2 uri("(://[^:/@]+:)([^@]*)(@)");
    RE2::GlobalReplace(&dsn, kv, "\\1***");
    RE2::GlobalReplace(&dsn, uri, "\\1***\\3");
    src["dsn"] = dsn;
  }
  json j = {{"name", s.name},
            {"dataset", s.dataset},
            {"source", src},
            {"batch", {{"max_rows", s.max_rows}, {"max_wait_s", s.max_wait_s}}}};
  if (!s.schedule.empty()) j["schedule"] = s.schedule;
  if (!s.time_zone.empty()) j["time_zone"] = s.time_zone;
  if (s.schema) j["schema"] = datasets::SchemaJson(*s.schema);
  return j;
}

}  // namespace aimass::collector
