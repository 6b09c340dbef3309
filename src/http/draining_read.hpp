// DrainingRead: the buffer of a socket read after which, when the kernel says nothing is left
// to read, the next read waits for new data instead of trying first. Internal to the HTTP
// core: only its .cpp files, which use Asio anyway, include it.
//
// Why: Asio's reactor tries every read at once and waits for epoll only when that attempt
// finds nothing. A server reading the next request just after answering, or a client reading
// the answer just after sending, always finds nothing then: one recv() returning EAGAIN per
// read, ~1.7 per proxied request, and on a paravirtualised VM each system call costs ~1 µs.
// Asio skips the attempt when the last read said the socket was exhausted, which for a stream
// it says only at its end. With TCP_INQ set on the socket (EnableDrainingReads), each read
// also returns how much is still queued, counting a received FIN as one byte: when that is
// zero the socket is drained and the read says so. No wake-up is lost: the socket is
// registered edge-triggered, data arriving after the read raises an event, the reactor tries
// again on every event, and an end of stream already received is never reported as drained.
// (A read shorter than its buffer is not enough: data and the FIN may have come together,
// leaving an end of stream to read that no later event announces.)
//
// The mechanism is a specialisation of Asio's receive operation for this buffer type, written
// against Boost 1.81's epoll reactor (Debian 12's libboost1.81-dev). With another Boost or
// reactor, or without TCP_INQ, the buffer is an ordinary one and reads behave as Asio's own.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/buffer.hpp>
#include <boost/version.hpp>
#include <cerrno>
#include <cstring>

namespace aimass::http {

struct DrainingRead : boost::asio::mutable_buffer {
  explicit DrainingRead(boost::asio::mutable_buffer b) : boost::asio::mutable_buffer(b) {}
};

// Asks the kernel to report, with each read, what is left to read (one system call per
// connection). Reads with a DrainingRead buffer work without it, as ordinary ones.
inline void EnableDrainingReads(int fd) {
#ifdef TCP_INQ
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_INQ, &one, sizeof one);
#else
  (void)fd;
#endif
}

}  // namespace aimass::http

#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && \
    defined(TCP_CM_INQ)
#define AIMASS_DRAINING_READS 1
#include <boost/asio/socket_base.hpp>
#include <boost/asio/detail/reactive_socket_recv_op.hpp>
#include <boost/asio/error.hpp>

namespace boost::asio::detail {

template <>
class reactive_socket_recv_op_base<aimass::http::DrainingRead> : public reactor_op {
 public:
  reactive_socket_recv_op_base(const boost::system::error_code& success_ec, socket_type socket,
                               socket_ops::state_type state, const aimass::http::DrainingRead& buffer,
                               socket_base::message_flags flags, func_type complete_func)
      : reactor_op(success_ec, &reactive_socket_recv_op_base::do_perform, complete_func),
        socket_(socket),
        state_(state),
        buffer_(buffer),
        flags_(flags) {}

  // As Asio's non_blocking_recv1, through recvmsg for the queued-bytes message.
  static status do_perform(reactor_op* base) {
    auto* o = static_cast<reactive_socket_recv_op_base*>(base);
    const bool stream = (o->state_ & socket_ops::stream_oriented) != 0;
    for (;;) {
      iovec iov{o->buffer_.data(), o->buffer_.size()};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n = ::recvmsg(o->socket_, &msg, o->flags_);
      if (n > 0) {
        o->ec_ = boost::system::error_code();
        o->bytes_transferred_ = static_cast<size_t>(n);
        int queued = -1;  // unknown: TCP_INQ not set
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
          if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ) std::memcpy(&queued, CMSG_DATA(c), sizeof queued);
        }
        return stream && queued == 0 ? done_and_exhausted : done;
      }
      if (n == 0 && stream) {
        o->ec_ = boost::asio::error::eof;
        o->bytes_transferred_ = 0;
        return done_and_exhausted;  // Asio's own rule: nothing more will come
      }
      if (n == 0) {
        o->ec_ = boost::system::error_code();
        o->bytes_transferred_ = 0;
        return done;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
      o->ec_ = boost::system::error_code(errno, boost::asio::error::get_system_category());
      o->bytes_transferred_ = 0;
      return stream ? done_and_exhausted : done;
    }
  }

 private:
  socket_type socket_;
  socket_ops::state_type state_;
  aimass::http::DrainingRead buffer_;
  socket_base::message_flags flags_;
};

}  // namespace boost::asio::detail
#else
#define AIMASS_DRAINING_READS 0
#endif

namespace aimass::http {
// Whether reads with a DrainingRead buffer take the fast path here (a unit test holds the
// supported Boost to it, so that an upgrade cannot turn it off unnoticed).
inline constexpr bool kDrainingReadsActive = AIMASS_DRAINING_READS != 0;
}  // namespace aimass::http
