#include "gateway/upstream_request.hpp"

#include <algorithm>
#include <cctype>

namespace aimass::gateway {

using namespace std::string_view_literals;

// The name's length picks the one or two names it could be: this runs for every field both ways.
bool Forwardable(std::string_view name) {
  auto is = [&](std::string_view d) { return http::EqualsIgnoreCase(name, d); };
  switch (name.size()) {
    case 2: return !is("te");
    case 4: return !is("host");
    case 7: return !is("trailer") && !is("upgrade");
    case 10: return !is("connection") && !is("keep-alive");
    case 14: return !is("content-length");
    case 16: return !is("proxy-connection");
    case 17: return !is("transfer-encoding");
    case 18: return !is("proxy-authenticate");
    case 19: return !is("proxy-authorization");
    default: return true;
  }
}

namespace {

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) && !std::isupper(static_cast<unsigned char>(c)); });
}

}  // namespace

void AppendNextTraceparent(std::string& out, std::optional<std::string_view> incoming,
                           void (*random_hex)(std::string& out, size_t bytes)) {
  if (incoming && incoming->size() == 55 && incoming->substr(0, 3) == "00-" && (*incoming)[35] == '-' &&
      (*incoming)[52] == '-') {
    std::string_view trace = incoming->substr(3, 32), flags = incoming->substr(53, 2);
    if (IsHex(trace) && IsHex(incoming->substr(36, 16)) && IsHex(flags) &&
        trace.find_first_not_of('0') != std::string_view::npos) {
      out.append("00-"sv).append(trace).append("-"sv);
      random_hex(out, 8);
      out.append("-"sv).append(flags);
      return;
    }
  }
  out.append("00-"sv);
  random_hex(out, 16);
  out.append("-"sv);
  random_hex(out, 8);
  out.append("-01"sv);
}

bool AppendUpstreamFields(std::string& fields, const UpstreamFieldsInput& in) {
  fields.reserve(fields.size() + 256 + 64 * in.headers->size());
  bool has_agent = false;
  std::string forwarded_for;  // the caller's X-Forwarded-For values, joined
  std::optional<std::string_view> traceparent;
  for (const auto& [name, value] : in.headers->all()) {
    // Host too: the client names the target's (X-Forwarded-Host keeps the caller's).
    if (!Forwardable(name)) continue;
    if (in.extra && std::any_of(in.extra->begin(), in.extra->end(),
                                [&](const auto& e) { return http::EqualsIgnoreCase(name, e.first); })) {
      continue;
    }
    // The gateway consumed the caller's credential; the upstream does not get it.
    if (in.strip_credentials && (http::EqualsIgnoreCase(name, "authorization") || http::EqualsIgnoreCase(name, "apikey") ||
                                 http::EqualsIgnoreCase(name, "x-api-key"))) {
      continue;
    }
    if (http::EqualsIgnoreCase(name, "x-forwarded-for")) {
      forwarded_for.append(value).append(", "sv);
      continue;
    }
    if (http::EqualsIgnoreCase(name, "traceparent")) {
      if (!traceparent) traceparent = value;
      continue;
    }
    if (http::EqualsIgnoreCase(name, "x-request-id") || http::EqualsIgnoreCase(name, "x-forwarded-proto") ||
        http::EqualsIgnoreCase(name, "x-forwarded-host") || http::EqualsIgnoreCase(name, "x-consumer")) {
      continue;
    }
    has_agent |= http::EqualsIgnoreCase(name, "user-agent");
    http::AppendField(fields, name, value);
  }
  fields.append("X-Forwarded-For: "sv).append(forwarded_for).append(in.client_ip);
  fields.append("\r\nX-Forwarded-Proto: http\r\n"sv);
  if (auto host = in.headers->Get("Host")) http::AppendField(fields, "X-Forwarded-Host"sv, *host);
  if (!http::HasLineBreak(in.request_id)) http::AppendField(fields, "X-Request-Id"sv, in.request_id);
  fields.append("traceparent: "sv);
  AppendNextTraceparent(fields, traceparent, in.random_hex);
  fields.append("\r\n"sv);
  if (!in.consumer.empty() && !http::HasLineBreak(in.consumer)) http::AppendField(fields, "X-Consumer"sv, in.consumer);
  if (in.extra) {
    for (const auto& [name, value] : *in.extra) http::AppendField(fields, name, value);
  }
  return has_agent;
}

}  // namespace aimass::gateway
