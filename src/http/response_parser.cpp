#include "http/response_parser.hpp"

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <optional>

namespace aimass::http {

namespace beast = boost::beast;
namespace bhttp = beast::http;

namespace {

// Reads an answer straight into a ClientResponse: Beast's own message type would store every
// field in its own allocation and then be copied field by field (the gateway's profile showed
// both).
class Reader : public bhttp::basic_parser<false> {
 public:
  explicit Reader(ClientResponse& out) : out_(out) {}

 private:
  void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int, beast::error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, beast::error_code& ec) override {
    // Three digits, but not a status: "020" would be written back out as a broken status line.
    if (code < 100) ec = bhttp::error::bad_status;
    out_.status = code;
  }
  void on_field_impl(bhttp::field, beast::string_view name, beast::string_view value, beast::error_code&) override {
    out_.headers.AddParsed(std::string_view(name.data(), name.size()), std::string_view(value.data(), value.size()));
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<uint64_t>& length, beast::error_code&) override {
    if (length) out_.body.reserve(static_cast<size_t>(*length));
  }
  size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    out_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(uint64_t, beast::string_view body, beast::error_code&) override {
    out_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  ClientResponse& out_;
};

}  // namespace

struct ResponseParser::Impl {
  std::optional<Reader> reader;  // emplaced per answer: Beast's parsers are single-use
  ClientResponse* out = nullptr;
  uint64_t body_limit = 0;
  bool head_request = false;
  bool offer_head = false;
  bool head_ready = false;    // stopped after the final head
  bool head_offered = false;  // this answer's head was offered

  void Begin() {
    Reader& r = reader.emplace(*out);
    // Not eager while the head is to be offered: Beast's put then returns at the header's end.
    r.eager(!offer_head);
    head_ready = head_offered = false;
    r.body_limit(body_limit);
    if (head_request) r.skip(true);
  }
};

ResponseParser::ResponseParser() : impl_(std::make_unique<Impl>()) {}
ResponseParser::~ResponseParser() = default;

void ResponseParser::Start(ClientResponse& out, uint64_t body_limit, bool head_request, bool offer_head) {
  out.headers.Reserve(12, 512);  // growing field by field showed in the gateway's profile
  impl_->out = &out;
  impl_->body_limit = body_limit;
  impl_->head_request = head_request;
  impl_->offer_head = offer_head;
  impl_->Begin();
}

bool ResponseParser::head_ready() const { return impl_->head_ready; }

void ResponseParser::ContinueBody(bool unlimited) {
  impl_->head_ready = false;
  Reader& r = *impl_->reader;
  if (unlimited) r.body_limit(boost::none);  // no body octet is parsed yet, as Beast requires
  r.eager(true);
}

Status ResponseParser::Put(std::string_view data, size_t& used) {
  used = 0;
  while (used < data.size() && !impl_->head_ready) {
    Reader& r = *impl_->reader;
    if (r.is_done()) {
      // An interim answer (100 Continue, 103 Early Hints) comes before the real one, which
      // follows on the same connection (RFC 9110 15.2); 101 ends HTTP on it.
      int status = impl_->out->status;
      if (status < 100 || status >= 200 || status == 101) break;
      *impl_->out = ClientResponse{};
      impl_->Begin();
      continue;
    }
    beast::error_code ec;
    size_t n = r.put(boost::asio::const_buffer(data.data() + used, data.size() - used), ec);
    used += n;
    if (ec == bhttp::error::need_more) break;
    if (ec) return Status::Unavailable(ec.message());
    if (impl_->offer_head && !impl_->head_offered && r.is_header_done() && impl_->out->status >= 200 &&
        impl_->out->status != 101) {
      impl_->head_ready = impl_->head_offered = true;
      break;
    }
    if (n == 0) break;
  }
  return Status::Ok();
}

Status ResponseParser::PutEof() {
  Reader& r = *impl_->reader;
  if (r.is_done()) return Status::Ok();
  // Beast's put_eof requires a started answer.
  if (!r.got_some()) return Status::Unavailable(beast::error_code(bhttp::error::end_of_stream).message());
  beast::error_code ec;
  r.put_eof(ec);
  if (ec) return Status::Unavailable(ec.message());
  if (!r.is_done()) return Status::Unavailable(beast::error_code(bhttp::error::partial_message).message());
  return Status::Ok();
}

bool ResponseParser::done() const {
  if (!impl_->reader || !impl_->reader->is_done()) return false;
  int status = impl_->out->status;
  return status >= 200 || status == 101;  // an interim answer is not the end
}
bool ResponseParser::got_some() const { return impl_->reader && impl_->reader->got_some(); }
bool ResponseParser::keep_alive() const { return impl_->reader && impl_->reader->keep_alive(); }

}  // namespace aimass::http
