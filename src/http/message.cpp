#include "http/message.hpp"

#include <cstring>

namespace aimass::http {

std::string_view MethodName(Method m) {
  switch (m) {
    case Method::kGet: return "GET";
    case Method::kHead: return "HEAD";
    case Method::kPost: return "POST";
    case Method::kPut: return "PUT";
    case Method::kPatch: return "PATCH";
    case Method::kDelete: return "DELETE";
    case Method::kOptions: return "OPTIONS";
    case Method::kOther: return "OTHER";
  }
  return "OTHER";
}

Method ParseMethod(std::string_view name) {
  if (name == "GET") return Method::kGet;
  if (name == "HEAD") return Method::kHead;
  if (name == "POST") return Method::kPost;
  if (name == "PUT") return Method::kPut;
  if (name == "PATCH") return Method::kPatch;
  if (name == "DELETE") return Method::kDelete;
  if (name == "OPTIONS") return Method::kOptions;
  return Method::kOther;
}

bool IsMutating(Method m) {
  return m == Method::kPost || m == Method::kPut || m == Method::kPatch || m == Method::kDelete;
}

void AppendField(std::string& out, std::string_view name, std::string_view value) {
  size_t at = out.size();
  out.resize(at + name.size() + value.size() + 4);
  char* p = out.data() + at;
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = ':';
  *p++ = ' ';
  std::memcpy(p, value.data(), value.size());
  p += value.size();
  *p++ = '\r';
  *p = '\n';
}

void Headers::Set(std::string_view name, std::string_view value) {
  if (!IsWritableField(name, value)) return;
  EraseIf([&](std::string_view n) { return EqualsIgnoreCase(n, name); });
  AddParsed(name, value);
}

void Headers::Add(std::string_view name, std::string_view value) {
  if (!IsWritableField(name, value)) return;
  AddParsed(name, value);
}

void Headers::AddParsed(std::string_view name, std::string_view value) {
  // Room for a usual message's fields at the first one: growing field by field costs an
  // allocation at each doubling (four for a response of four fields).
  if (lines_.empty() && lines_.capacity() < 256) lines_.reserve(256);
  index_.push_back({static_cast<uint32_t>(lines_.size()), static_cast<uint32_t>(name.size()),
                    static_cast<uint32_t>(value.size())});
  AppendField(lines_, name, value);
  ++live_;
}

std::optional<std::string_view> Headers::Get(std::string_view name) const {
  for (const Entry& e : index_) {
    if (e.name_size == name.size() && EqualsIgnoreCase(std::string_view(lines_.data() + e.offset, e.name_size), name)) {
      return std::string_view(lines_.data() + e.offset + e.name_size + 2, e.value_size);
    }
  }
  return std::nullopt;
}

void Headers::AppendTo(std::string& out) const {
  if (live_ == index_.size()) {
    out.append(lines_);
    return;
  }
  // Runs of fields kept next to each other go out in one copy each (a proxy drops two or
  // three hop-by-hop fields from an answer and adds one or two).
  size_t from = 0, to = 0;
  for (const Entry& e : index_) {
    if (e.name_size == 0) continue;
    if (e.offset != to) {
      out.append(lines_.data() + from, to - from);
      from = e.offset;
    }
    to = e.offset + e.name_size + e.value_size + 4;
  }
  out.append(lines_.data() + from, to - from);
}

std::string Request::Param(std::string_view name) const {
  for (const auto& [n, v] : params) {
    if (n == name) return v;
  }
  return {};
}

std::optional<std::string> Request::Query(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    auto k = PercentDecode(key);
    if (!k || *k != name) continue;
    std::string plus_decoded(value);
    for (char& c : plus_decoded) {
      if (c == '+') c = ' ';
    }
    return PercentDecode(plus_decoded);
  }
  return std::nullopt;
}

static int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return std::nullopt;
    int hi = HexValue(in[i + 1]);
    int lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

}  // namespace aimass::http
