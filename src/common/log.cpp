#include "common/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <memory>

namespace aimass::log {

namespace {

thread_local const std::string* tl_request_id = nullptr;

void AppendJsonString(spdlog::memory_buf_t& dest, std::string_view s) {
  dest.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': dest.append(std::string_view("\\\"")); break;
      case '\\': dest.append(std::string_view("\\\\")); break;
      case '\n': dest.append(std::string_view("\\n")); break;
      case '\r': dest.append(std::string_view("\\r")); break;
      case '\t': dest.append(std::string_view("\\t")); break;
      default:
        if (c < 0x20) {
          char buf[8];
          int n = snprintf(buf, sizeof buf, "\\u%04x", c);
          dest.append(buf, buf + n);
        } else {
          dest.push_back(static_cast<char>(c));
        }
    }
  }
  dest.push_back('"');
}

void AppendTime(spdlog::memory_buf_t& dest, spdlog::log_clock::time_point tp) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(tp);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp - secs).count();
  std::time_t t = spdlog::log_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  n += snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  dest.append(buf, buf + n);
}

// {"ts":"…","level":"info","msg":"…","request_id":"…"}
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    dest.append(std::string_view("{\"ts\":\""));
    AppendTime(dest, msg.time);
    dest.append(std::string_view("\",\"level\":"));
    auto lv = spdlog::level::to_string_view(msg.level);
    AppendJsonString(dest, std::string_view(lv.data(), lv.size()));
    dest.append(std::string_view(",\"msg\":"));
    AppendJsonString(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    if (tl_request_id) {
      dest.append(std::string_view(",\"request_id\":"));
      AppendJsonString(dest, *tl_request_id);
    }
    dest.append(std::string_view("}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

// Text lines: "2026-11-28T01:02:03.456Z info [request_id] message".
class TextFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    AppendTime(dest, msg.time);
    dest.push_back(' ');
    auto lv = spdlog::level::to_string_view(msg.level);
    dest.append(lv.data(), lv.data() + lv.size());
    if (tl_request_id) {
      dest.append(std::string_view(" ["));
      dest.append(*tl_request_id);
      dest.push_back(']');
    }
    dest.push_back(' ');
    dest.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextFormatter>();
  }
};

}  // namespace

Status Init(std::string_view level, std::string_view format) {
  auto lv = spdlog::level::from_str(std::string(level));
  if (lv == spdlog::level::off && level != "off") {
    return Status::BadRequest("unknown log level '" + std::string(level) + "'");
  }
  std::unique_ptr<spdlog::formatter> f;
  if (format == "json") f = std::make_unique<JsonFormatter>();
  else if (format == "text") f = std::make_unique<TextFormatter>();
  else return Status::BadRequest("log format must be text or json");
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("aimass", sink);
  logger->set_formatter(std::move(f));
  logger->set_level(lv);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  return Status::Ok();
}

ScopedRequestId::ScopedRequestId(const std::string& id) : saved_(tl_request_id) {
  tl_request_id = &id;
}
ScopedRequestId::~ScopedRequestId() { tl_request_id = saved_; }

const std::string* CurrentRequestId() { return tl_request_id; }

}  // namespace aimass::log
