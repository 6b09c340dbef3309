// DrainingRead: a read after which the kernel says nothing is queued lets the next read skip
// its first attempt; no data and no end of stream may be missed because of it.
#include "http/draining_read.hpp"

#include <gtest/gtest.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <string>
#include <thread>

namespace aimass::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

// A connected pair on loopback: `server` is read through the io_context, `peer` written
// synchronously by the test.
class DrainingReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tcp::acceptor acceptor(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    peer_.connect(acceptor.local_endpoint());
    acceptor.accept(server_);
    EnableDrainingReads(server_.native_handle());
  }

  // Reads once into a buffer of `room` bytes, running the io_context until the read completes
  // or 2 s pass (then the text is "timed out").
  std::string ReadOnce(size_t room) {
    std::string got;
    bool done = false;
    server_.async_read_some(DrainingRead(asio::buffer(buf_.data(), room)), [&](boost::system::error_code ec, size_t n) {
      got = ec ? "error: " + ec.message() : std::string(buf_.data(), n);
      done = true;
    });
    ioc_.restart();
    for (auto until = std::chrono::steady_clock::now() + 2s; !done && std::chrono::steady_clock::now() < until;) {
      ioc_.run_for(10ms);
    }
    const bool timed_out = !done;
    if (timed_out) server_.cancel();  // its handler runs below, while `got` and `done` live
    ioc_.restart();
    ioc_.poll();
    return timed_out ? "timed out" : got;
  }

  // Runs the io_context for `d` with no read waiting on the socket: events that arrive are
  // seen by the reactor with nothing to hand them to.
  void IdleFor(std::chrono::milliseconds d) {
    asio::steady_timer t(ioc_, d);
    t.async_wait([](boost::system::error_code) {});
    ioc_.restart();
    ioc_.run();
  }

  void Send(const std::string& s) { asio::write(peer_, asio::buffer(s)); }

  asio::io_context ioc_{1};
  tcp::socket server_{ioc_};
  tcp::socket peer_{ioc_};
  std::array<char, 64> buf_{};
};

// Debian 12's Boost 1.81 with epoll and TCP_INQ is the supported platform: there the fast path
// must be compiled in (the request path's system calls rely on it, decision 70).
TEST(DrainingReadBuildTest, TheFastPathIsActiveOnTheSupportedBoost) {
#if BOOST_VERSION == 108100 && defined(__linux__)
  EXPECT_TRUE(kDrainingReadsActive) << "Boost 1.81 on Linux, yet the DrainingRead specialisation is not compiled";
#else
  GTEST_SKIP() << "not the supported Boost (" << BOOST_VERSION << "): reads behave as Asio's own";
#endif
}

TEST_F(DrainingReadTest, DataThatArrivedWhileNoReadWaitedIsReadAfterAShortRead) {
  Send("ab");
  EXPECT_EQ(ReadOnce(16), "ab");  // short: the socket is marked drained
  Send("cd");
  IdleFor(50ms);                  // its event comes and goes with no read pending
  EXPECT_EQ(ReadOnce(16), "cd");  // the next read must still find it
}

TEST_F(DrainingReadTest, AReadWaitingAfterAShortReadIsWokenByNewData) {
  Send("ab");
  EXPECT_EQ(ReadOnce(16), "ab");
  std::thread later([this] {
    std::this_thread::sleep_for(30ms);
    Send("cd");
  });
  EXPECT_EQ(ReadOnce(16), "cd");
  later.join();
}

TEST_F(DrainingReadTest, AnEndOfStreamThatCameWithTheDataIsRead) {
  Send("ab");
  peer_.shutdown(tcp::socket::shutdown_send);
  IdleFor(50ms);  // both are queued before the read: one event announces them
  EXPECT_EQ(ReadOnce(16), "ab");
  EXPECT_EQ(ReadOnce(16), "error: End of file");  // announced by no later event
}

TEST_F(DrainingReadTest, AReadThatFillsItsBufferLeavesTheRestForTheNext) {
  Send("0123456789abcdefXYZ");
  EXPECT_EQ(ReadOnce(16), "0123456789abcdef");  // full: not marked drained
  EXPECT_EQ(ReadOnce(16), "XYZ");
  peer_.close();
  EXPECT_EQ(ReadOnce(16), "error: End of file");
}

}  // namespace
}  // namespace aimass::http
