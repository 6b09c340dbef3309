#include "behavior/event.hpp"

#include "common/time.hpp"

namespace aimass::behavior {

using nlohmann::json;

namespace {

Result<std::string> IdText(const json& v, const char* what) {
  std::string s;
  if (v.is_string()) s = v.get<std::string>();
  else if (v.is_number_integer() || v.is_number_unsigned()) s = v.dump();
  else return Status::BadRequest(std::string(what) + " is a string");
  if (s.empty()) return Status::BadRequest(std::string(what) + " is empty");
  if (s.size() > kMaxName) return Status::BadRequest(std::string(what) + " is longer than 200 characters");
  return s;
}

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutString(std::string& out, std::string_view s) {
  PutVarint(out, s.size());
  out.append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view d) : d_(d) {}
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= d_.size()) return false;
      const uint8_t b = static_cast<uint8_t>(d_[pos_++]);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool String(std::string* s) {
    uint64_t n = 0;
    if (!Varint(&n) || n > d_.size() - pos_) return false;
    s->assign(d_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == d_.size(); }

 private:
  std::string_view d_;
  size_t pos_ = 0;
};

}  // namespace

Result<Event> ParseEvent(const json& body, int64_t now_ms) {
  if (!body.is_object()) return Status::BadRequest("an event is an object {event, distinct_id, timestamp, properties, uuid}");
  Event e;
  if (!body.contains("event")) return Status::BadRequest("event is required");
  AIMASS_ASSIGN_OR_RETURN(e.event, IdText(body["event"], "event"));
  // PostHog's clients may send the id in properties.distinct_id instead.
  const json* id = body.contains("distinct_id") ? &body["distinct_id"] : nullptr;
  if (!id && body.contains("properties") && body["properties"].is_object() && body["properties"].contains("distinct_id")) {
    id = &body["properties"]["distinct_id"];
  }
  if (!id) return Status::BadRequest("distinct_id is required");
  AIMASS_ASSIGN_OR_RETURN(e.distinct_id, IdText(*id, "distinct_id"));
  e.time_ms = now_ms;
  if (body.contains("timestamp") && !body["timestamp"].is_null()) {
    if (!body["timestamp"].is_string()) return Status::BadRequest("timestamp is an RFC 3339 string");
    auto t = ParseRfc3339Ms(body["timestamp"].get<std::string>());
    if (!t) return Status::BadRequest("timestamp '" + body["timestamp"].get<std::string>().substr(0, 64) + "' is not RFC 3339");
    e.time_ms = *t;
  }
  if (body.contains("uuid") && !body["uuid"].is_null()) {
    AIMASS_ASSIGN_OR_RETURN(e.uuid, IdText(body["uuid"], "uuid"));
  }
  if (body.contains("properties") && !body["properties"].is_null()) {
    const json& p = body["properties"];
    if (!p.is_object()) return Status::BadRequest("properties is an object");
    if (p.size() > kMaxProperties) return Status::BadRequest("an event has at most 1000 properties");
    for (const auto& [k, v] : p.items()) {
      if (k.empty() || k.size() > kMaxName) return Status::BadRequest("a property name is 1-200 characters");
      if ((k == "$set" || k == "$set_once") && !v.is_object()) return Status::BadRequest(k + " is an object of person properties");
    }
    e.properties = p;
    e.properties.erase("distinct_id");
  }
  return e;
}

Result<std::vector<Event>> ParseCapture(const json& body, int64_t now_ms) {
  const json* list = nullptr;
  if (body.is_array()) list = &body;
  else if (body.is_object() && body.contains("batch")) {
    if (!body["batch"].is_array()) return Status::BadRequest("batch is a list of events");
    list = &body["batch"];
  }
  std::vector<Event> out;
  if (!list) {
    AIMASS_ASSIGN_OR_RETURN(Event e, ParseEvent(body, now_ms));
    out.push_back(std::move(e));
    return out;
  }
  if (list->empty()) return Status::BadRequest("the batch is empty");
  out.reserve(list->size());
  for (size_t i = 0; i < list->size(); ++i) {
    auto e = ParseEvent((*list)[i], now_ms);
    if (!e.ok()) return Status::BadRequest("batch[" + std::to_string(i) + "]: " + e.status().message());
    out.push_back(std::move(*e));
  }
  return out;
}

std::string EncodeEvents(const std::vector<Event>& events) {
  std::string out;
  out.reserve(events.size() * 96);
  PutVarint(out, events.size());
  for (const Event& e : events) {
    PutString(out, e.uuid);
    PutString(out, e.event);
    PutString(out, e.distinct_id);
    // Zig-zag, so that times before 1970 stay short too.
    PutVarint(out, (static_cast<uint64_t>(e.time_ms) << 1) ^ static_cast<uint64_t>(e.time_ms >> 63));
    PutString(out, e.properties.empty() ? std::string() : e.properties.dump());
  }
  return out;
}

Result<std::vector<Event>> DecodeEvents(std::string_view data) {
  Reader r(data);
  uint64_t n = 0;
  if (!r.Varint(&n) || n > data.size()) return Status::Internal("a capture log record is damaged");
  std::vector<Event> out(n);
  std::string props;
  for (Event& e : out) {
    uint64_t t = 0;
    if (!r.String(&e.uuid) || !r.String(&e.event) || !r.String(&e.distinct_id) || !r.Varint(&t) || !r.String(&props)) {
      return Status::Internal("a capture log record is damaged");
    }
    e.time_ms = static_cast<int64_t>((t >> 1) ^ (~(t & 1) + 1));
    if (!props.empty()) {
      e.properties = json::parse(props, nullptr, false);
      if (e.properties.is_discarded() || !e.properties.is_object()) return Status::Internal("a capture log record is damaged");
    }
  }
  if (!r.done()) return Status::Internal("a capture log record is damaged");
  return out;
}

}  // namespace aimass::behavior
