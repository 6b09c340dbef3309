// WriteAtOnce: the first, synchronous attempt at writing a message (head and body) on a socket
// in non-blocking mode. The server's answers and the client's requests mostly fit the send
// buffer, so they go out without a trip through the event loop; the caller leaves the rest to
// async_write. Internal to the HTTP core: only its .cpp files, which use Asio anyway, include it.
#pragma once

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

namespace aimass::http {

// Writes what the kernel takes of `parts` now and advances them past it. True when all of it
// went; otherwise `ec` holds the error, if it was more than the buffer being full.
template <class Socket>
bool WriteAtOnce(Socket& socket, std::array<boost::asio::const_buffer, 2>& parts, boost::system::error_code& ec) {
  size_t sent = socket.write_some(parts, ec);
  if (ec == boost::asio::error::would_block) ec = {};
  if (!ec && sent == parts[0].size() + parts[1].size()) return true;
  if (sent < parts[0].size()) {
    parts[0] += sent;
  } else {
    parts[1] += sent - parts[0].size();
    parts[0] = boost::asio::const_buffer();
  }
  return false;
}

}  // namespace aimass::http
