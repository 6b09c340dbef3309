// Request and Response: the plain HTTP messages that handlers and middleware see. They hold no
// Boost types, so module code compiles without Beast's headers.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "common/principal.hpp"
#include "common/status.hpp"

namespace aimass::http {

enum class Method { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions, kOther };

std::string_view MethodName(Method m);
Method ParseMethod(std::string_view name);
// POST, PUT, PATCH and DELETE change state; they are audited.
bool IsMutating(Method m);
// ASCII case-insensitive equality, as header names compare. Inline: it runs for every field a
// proxy reads or writes, mostly on names of different lengths, and strncasecmp's call showed
// in the gateway's profile.
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    // Equal, or the same letter: folding bit 0x20 must give the same character, and a letter.
    if (x != y && ((x | 0x20) != (y | 0x20) || static_cast<unsigned char>((x | 0x20) - 'a') > 25)) return false;
  }
  return true;
}
// A CR or LF in a header name or value would split the message it is written into. Inline, and
// eight bytes at a time for both at once: a proxy checks every field it writes (about twenty a
// request), most under 40 bytes, and two memchr calls each showed in the gateway's profile.
inline bool HasLineBreak(std::string_view v) {
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  // Whether some byte of w is CR or LF (a zero byte of w ^ that byte repeated; bytes of w
  // that are zero for padding are neither).
  auto breaks = [](uint64_t w) {
    uint64_t cr = w ^ (kOnes * '\r'), lf = w ^ (kOnes * '\n');
    return (((cr - kOnes) & ~cr) | ((lf - kOnes) & ~lf)) & kHigh;
  };
  const char* p = v.data();
  size_t n = v.size();
  uint32_t a, b;
  if (n < 4) {
    // One to three bytes: the first, middle and last (some the same) of them.
    return n > 0 && (p[0] == '\r' || p[0] == '\n' || p[n / 2] == '\r' || p[n / 2] == '\n' ||
                     p[n - 1] == '\r' || p[n - 1] == '\n');
  }
  if (n < 8) {
    // Two overlapping 4-byte loads cover four to seven bytes.
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + n - 4, 4);
    return breaks(a | uint64_t{b} << 32) != 0;
  }
  uint64_t w;
  for (size_t i = 0; i + 8 < n; i += 8) {
    std::memcpy(&w, p + i, 8);
    if (breaks(w)) return true;
  }
  std::memcpy(&w, p + n - 8, 8);  // the last eight, overlapping the loop's last word
  return breaks(w) != 0;
}
// Whether "name: value" can be written as one field line: a name, and no CR or LF to split the
// message. The rule Headers stores by, and what a writer of fields from elsewhere checks.
inline bool IsWritableField(std::string_view name, std::string_view value) {
  return !name.empty() && !HasLineBreak(name) && !HasLineBreak(value);
}
// Appends "name: value\r\n" with one size check and two copies (field by field, four appends
// and their length scans showed in the gateway's profile). The caller checks for line breaks.
void AppendField(std::string& out, std::string_view name, std::string_view value);

// Ordered header fields with case-insensitive lookup. They are kept as they go on the wire,
// "Name: value\r\n" one after another in one string, with a small index beside it: a message's
// fields cost two allocations instead of two per field, and are written out by copying lines
// (building, checking and writing each field as a pair of strings showed in the gateway's
// profile). A field that could not be written as one line (an empty name, a CR or LF in the name
// or value) is never stored, so whoever writes the fields out need not check them again.
// Few enough fields that a scan beats a map. A view a lookup returned lasts until the next
// change. A replaced or erased field's bytes stay until the message goes (messages are short).
class Headers {
  // Where a field's line starts in lines_; a name_size of 0 marks an erased field.
  struct Entry {
    uint32_t offset;
    uint32_t name_size;
    uint32_t value_size;
  };

 public:
  struct Field {
    std::string_view name;
    std::string_view value;
  };

  // Replaces the fields named `name` (by one at the end) or adds it.
  void Set(std::string_view name, std::string_view value);
  void Add(std::string_view name, std::string_view value);
  // For a parser that refuses empty names and line breaks itself (Beast's): the same as Add
  // without the check, which would otherwise run on every field of every message.
  void AddParsed(std::string_view name, std::string_view value);
  std::optional<std::string_view> Get(std::string_view name) const;
  size_t size() const { return live_; }
  bool empty() const { return live_ == 0; }
  void Reserve(size_t fields, size_t bytes) {
    index_.reserve(fields);
    lines_.reserve(bytes);
  }
  // Drops the fields whose name `drop` accepts (a proxy removing hop-by-hop fields in place
  // instead of copying the rest).
  template <class Pred>
  void EraseIf(Pred drop) {
    for (Entry& e : index_) {
      if (e.name_size != 0 && drop(std::string_view(lines_.data() + e.offset, e.name_size))) {
        e.name_size = 0;
        --live_;
      }
    }
  }
  // Appends the fields as they go on the wire, "Name: value\r\n" each.
  void AppendTo(std::string& out) const;

  // Visits the fields in order, skipping erased ones.
  class Iterator {
   public:
    using value_type = Field;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    Field operator*() const {
      return {std::string_view(lines_ + at_->offset, at_->name_size),
              std::string_view(lines_ + at_->offset + at_->name_size + 2, at_->value_size)};
    }
    Iterator& operator++() {
      ++at_;
      Skip();
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const Iterator& o) const { return at_ == o.at_; }

   private:
    friend class Headers;
    Iterator(const char* lines, const Entry* at, const Entry* end) : lines_(lines), at_(at), end_(end) { Skip(); }
    void Skip() {
      while (at_ != end_ && at_->name_size == 0) ++at_;
    }
    const char* lines_ = nullptr;
    const Entry* at_ = nullptr;
    const Entry* end_ = nullptr;
  };
  Iterator begin() const { return {lines_.data(), index_.data(), index_.data() + index_.size()}; }
  Iterator end() const {
    const Entry* end = index_.data() + index_.size();
    return {lines_.data(), end, end};
  }
  // The fields in order: `for (auto [name, value] : h.all())`.
  const Headers& all() const { return *this; }

 private:
  std::string lines_;
  // A usual message's fields are indexed without an allocation of their own (two per proxied
  // request, its request's and its answer's, showed in the gateway's profile).
  boost::container::small_vector<Entry, 12> index_;
  size_t live_ = 0;
};

struct Route;

struct Request {
  Method method = Method::kGet;
  std::string target;   // as received: path and query
  std::string path;     // raw (still percent-encoded) path
  std::string query;    // after '?', raw
  Headers headers;
  std::string body;     // buffered body (routes without streaming_body)

  // Routes with streaming_body receive their body spooled to a temp file instead: the server
  // streams it to disk while hashing, so a large upload never sits in memory. The handler may
  // move the file away (the blob store renames it into place); otherwise it is removed after
  // the response.
  std::string body_file;
  uint64_t body_size = 0;
  std::string body_sha256;  // hex, of the spooled body

  std::string remote;       // peer address
  // When the server had read the request's header (set by the metrics middleware when no
  // server did: a pipeline run directly).
  std::chrono::steady_clock::time_point received;
  std::string request_id;
  const Route* route = nullptr;  // null when nothing matched
  std::vector<std::pair<std::string, std::string>> params;  // decoded path parameters
  std::shared_ptr<const Principal> principal;  // shared: built once per token (AuthService)
  // A failure found before the handler could run (no route, body too large…). The middleware
  // chain still runs, so the request is logged and counted, but the handler is not called.
  Status early_error;
  // Who the audit log names when no principal is set (login names the user it tried).
  std::string audit_actor;
  // Set by the middleware that resolves the pipeline's fallback route (the gateway, whose
  // routes change at run time): who may call what it matched, in place of the route's own
  // `anonymous` and `permission`, and what it matched, for the handler.
  struct Access {
    bool anonymous = false;
    std::string permission;
  };
  std::optional<Access> access;
  std::shared_ptr<const void> route_state;

  // Decoded path parameter by name; empty when absent.
  std::string Param(std::string_view name) const;
  // Decoded query parameter by name.
  std::optional<std::string> Query(std::string_view name) const;
};

// A byte range of a file sent as the response body, read in chunks by the server.
struct FileBody {
  std::string path;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// A body produced over time, such as server-sent events. The server sends what Poll returns as
// chunks until Poll reports the end or the client goes away; it never blocks a thread waiting.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Non-blocking: appends what is ready to `out`; false once the stream has ended.
  virtual bool Poll(std::string& out) = 0;
  // Set once by the server before the first Poll: call `wake` (from any thread, any number of
  // times) when Poll would return something new.
  virtual void SetWake(std::function<void()> wake) = 0;
  // The connection is done with the stream (client gone, server shutting down).
  virtual void Close() = 0;
  // A finite download that is always ready (a tar written on the fly) rather than a feed of
  // events: no keep-alive comments, and a shutdown lets it finish within the drain time.
  virtual bool Bulk() const { return false; }
  // Whether quiet stretches carry server-sent-events comments (`: keep-alive`); a plain-text
  // stream (a job's log) has none.
  virtual bool KeepAlives() const { return !Bulk(); }
  // The stream broke off (a source file went missing): the connection is cut without the
  // final chunk, so the client sees a truncated body instead of a short, complete-looking one.
  virtual bool Failed() const { return false; }
};

class DeferredResponse;

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  std::optional<FileBody> file;  // when set, replaces body
  std::shared_ptr<ResponseStream> stream;  // when set, replaces body: sent chunked, then closed
  // When set, the real response comes later (see http/deferred_response.hpp); the rest of
  // this one is ignored.
  std::shared_ptr<DeferredResponse> deferred;
  // For HEAD: the length the GET would have had.
  std::optional<uint64_t> content_length_override;
};

using Handler = std::function<Response(Request&)>;

// Percent-decodes `in`; fails on a malformed escape.
std::optional<std::string> PercentDecode(std::string_view in);

}  // namespace aimass::http
