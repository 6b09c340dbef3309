// HeadParser: a request's line (method, target split into path and query) and fields read
// straight into an http::Request. Internal to the HTTP core: the server's serving loop and the
// request fuzzer include it (it brings Beast in).
#pragma once

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <string>
#include <string_view>

#include "http/message.hpp"

namespace aimass::http {

// Beast's request parser with the callbacks for the request line and fields filling a Request:
// the stock parser first builds a field list of its own (an allocation per field) that was then
// copied field by field (both showed in the gateway's profile). A body is read by Beast's
// parsers taking over this one's state (Release); its own message stays empty, so what frames
// the body comes from the parser (keep_alive, chunked, content_length) or from the Request.
class HeadParser final : public boost::beast::http::request_parser<boost::beast::http::empty_body> {
 public:
  using Base = boost::beast::http::request_parser<boost::beast::http::empty_body>;
  explicit HeadParser(Request& req) : req_(req) {}
  // For a body's parser to take over (Beast's converting constructor wants its own type).
  Base&& Release() { return std::move(*this); }

 private:
  void on_request_impl(boost::beast::http::verb, boost::beast::string_view method,
                       boost::beast::string_view target, int, boost::beast::error_code&) override {
    req_.method = ParseMethod(std::string_view(method.data(), method.size()));
    req_.target.assign(target.data(), target.size());
    size_t q = req_.target.find('?');
    req_.path = req_.target.substr(0, q);
    if (q != std::string::npos) req_.query = req_.target.substr(q + 1);
  }
  void on_field_impl(boost::beast::http::field, boost::beast::string_view name, boost::beast::string_view value,
                     boost::beast::error_code&) override {
    req_.headers.AddParsed(std::string_view(name.data(), name.size()), std::string_view(value.data(), value.size()));
  }

  Request& req_;
};

}  // namespace aimass::http
