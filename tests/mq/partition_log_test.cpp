// The message log: records survive reopening, a torn or corrupt tail is cut, segments roll
// and retention drops whole old ones, and the broker's delivery rules on a driven clock.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "test_support.hpp"
#include "mq/broker.hpp"
#include "mq/partition_log.hpp"
#include "mq/record.hpp"

namespace fs = std::filesystem;
using namespace aimass::mq;

namespace {

using aimass::testing::TempDir;

std::vector<Message> Batch(std::initializer_list<const char*> bodies) {
  std::vector<Message> out;
  for (const char* b : bodies) {
    Message m;
    m.body = b;
    m.key = std::string("k-") + b;
    m.headers = {{"h", b}};
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<std::string> Bodies(const std::vector<Message>& ms) {
  std::vector<std::string> out;
  for (const auto& m : ms) out.push_back(m.body);
  return out;
}

TEST(MqRecord, RoundTripsEveryFieldAndRejectsAFlippedBit) {
  Message m;
  m.offset = 42;
  m.timestamp_ms = 1700000000123;
  m.deliver_at_ms = 5;
  m.expire_at_ms = 6;
  m.key = "key";
  m.dedup_id = "d";
  m.headers = {{"a", "1"}, {"b", ""}};
  m.body = std::string("bin\0ary", 7);
  std::string frame;
  EncodeRecord(m, frame);
  ASSERT_EQ(ValidFrame(frame), frame.size());
  Message back;
  ASSERT_TRUE(DecodeRecord(std::string_view(frame).substr(kRecordHeaderBytes), back));
  EXPECT_EQ(back.offset, 42u);
  EXPECT_EQ(back.timestamp_ms, m.timestamp_ms);
  EXPECT_EQ(back.deliver_at_ms, 5);
  EXPECT_EQ(back.expire_at_ms, 6);
  EXPECT_EQ(back.key, "key");
  EXPECT_EQ(back.dedup_id, "d");
  EXPECT_EQ(back.headers, m.headers);
  EXPECT_EQ(back.body, m.body);
  // CRC-32 catches every single-bit error, in the payload, the CRC or the length.
  for (size_t i = 0; i < frame.size(); ++i) {
    std::string bad = frame;
    bad[i] ^= 0x10;
    EXPECT_FALSE(ValidFrame(bad).has_value()) << "flipped byte " << i;
  }
  EXPECT_FALSE(ValidFrame(std::string_view(frame).substr(0, frame.size() - 1)));
}

TEST(MqLog, AppendsReadsAndReopens) {
  TempDir dir;
  {
    auto log = PartitionLog::Open({dir.path(), FsyncPolicy::kAlways, 1 << 20, {}});
    ASSERT_TRUE(log.ok()) << log.status().message();
    auto b = Batch({"a", "b", "c"});
    auto first = (*log)->Append(b, 1000);
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(*first, 0u);
    EXPECT_EQ(b[2].offset, 2u);
    auto read = (*log)->Read(1, 10);
    ASSERT_TRUE(read.ok());
    EXPECT_EQ(Bodies(*read), (std::vector<std::string>{"b", "c"}));
    EXPECT_EQ((*read)[0].headers, (std::vector<std::pair<std::string, std::string>>{{"h", "b"}}));
  }
  std::vector<std::string> visited;
  auto log = PartitionLog::Open({dir.path(), FsyncPolicy::kAlways, 1 << 20, {}},
                                [&](const Message& m) { visited.push_back(m.body); });
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(visited, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ((*log)->next_offset(), 3u);
  auto more = Batch({"d"});
  ASSERT_EQ(*(*log)->Append(more, 2000), 3u);
}

TEST(MqLog, RecoveryCutsATornTailAndGoesOn) {
  TempDir dir;
  {
    auto log = PartitionLog::Open({dir.path(), FsyncPolicy::kNever, 1 << 20, {}});
    auto b = Batch({"a", "b"});
    ASSERT_TRUE((*log)->Append(b, 1).ok());
  }
  std::string seg;
  for (const auto& e : fs::directory_iterator(dir.path())) seg = e.path().string();
  auto whole = fs::file_size(seg);
  {
    // Half of a third record, as a crash mid-write leaves it.
    std::string frame;
    Message m;
    m.offset = 2;
    m.body = "ccccccccccccccccccc";
    EncodeRecord(m, frame);
    std::ofstream(seg, std::ios::app | std::ios::binary).write(frame.data(), static_cast<std::streamsize>(frame.size() / 2));
  }
  auto log = PartitionLog::Open({dir.path(), FsyncPolicy::kNever, 1 << 20, {}});
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->next_offset(), 2u);
  EXPECT_EQ(fs::file_size(seg), whole);
  auto c = Batch({"c"});
  ASSERT_EQ(*(*log)->Append(c, 2), 2u);
  EXPECT_EQ(Bodies(*(*log)->Read(0, 10)), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(MqLog, AlwaysZeroFillsAheadAndRecoveryDropsTheZerosOnly) {
  TempDir dir;
  std::vector<std::string> files;
  {
    // 4 KB segments: the first fills, rolls, and must end at its last record.
    auto log = PartitionLog::Open({dir.path(), FsyncPolicy::kAlways, 4096, {}});
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 60; ++i) {
      std::vector<Message> b(1);
      b[0].body = std::string(100, static_cast<char>('a' + i % 26));
      ASSERT_TRUE((*log)->Append(b, 1).ok());
    }
    for (const auto& e : fs::directory_iterator(dir.path())) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    ASSERT_GE(files.size(), 2u);
    // The active segment has zeros past its records.
    EXPECT_EQ(fs::file_size(files.back()), 4096u);
    uint64_t on_disk = 0;
    for (const auto& f : files) on_disk += fs::file_size(f);
    EXPECT_LT((*log)->bytes(), on_disk);
  }
  // Reopened: every record back, no cut (a cut would drop the later segments), and the zeros
  // gone from the file.
  std::vector<std::string> visited;
  auto log = PartitionLog::Open({dir.path(), FsyncPolicy::kAlways, 4096, {}},
                                [&](const Message& m) { visited.push_back(m.body); });
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(visited.size(), 60u);
  EXPECT_EQ(visited[59], std::string(100, static_cast<char>('a' + 59 % 26)));
  EXPECT_EQ((*log)->next_offset(), 60u);
  uint64_t on_disk = 0;
  for (const auto& f : files) on_disk += fs::file_size(f);
  EXPECT_EQ(on_disk, (*log)->bytes());
  std::vector<Message> more(1);
  more[0].body = "after";
  ASSERT_EQ(*(*log)->Append(more, 2), 60u);
  EXPECT_EQ(Bodies(*(*log)->Read(60, 1)), (std::vector<std::string>{"after"}));
}

TEST(MqLog, ACorruptRecordCutsTheRestIncludingLaterSegments) {
  TempDir dir;
  {
    auto log = PartitionLog::Open({dir.path(), FsyncPolicy::kNever, 100, {}});  // a segment per record
    for (const char* b : {"first", "second", "third"}) {
      auto one = Batch({b});
      ASSERT_TRUE((*log)->Append(one, 1).ok());
    }
  }
  std::vector<std::string> segs;
  for (const auto& e : fs::directory_iterator(dir.path())) segs.push_back(e.path().string());
  std::sort(segs.begin(), segs.end());
  ASSERT_EQ(segs.size(), 3u);
  {
    std::fstream f(segs[1], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(12);
    f.put('X');  // inside the payload: the CRC no longer matches
  }
  auto log = PartitionLog::Open({dir.path(), FsyncPolicy::kNever, 100, {}});
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->next_offset(), 1u);
  EXPECT_FALSE(fs::exists(segs[2]));
  EXPECT_EQ(Bodies(*(*log)->Read(0, 10)), (std::vector<std::string>{"first"}));
}

TEST(MqLog, RetentionDropsWholeOldSegmentsAndTimeFindsOffsets) {
  TempDir dir;
  Retention r;
  r.max_messages = 4;
  auto log = PartitionLog::Open({dir.path(), FsyncPolicy::kNever, 200, r});
  for (int i = 0; i < 10; ++i) {
    auto one = Batch({"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"});
    ASSERT_TRUE((*log)->Append(one, 1000 + i * 10).ok());
  }
  EXPECT_EQ((*log)->OffsetForTime(1035), 4u);
  EXPECT_EQ((*log)->OffsetForTime(0), 0u);
  EXPECT_EQ((*log)->OffsetForTime(99999), 10u);
  (*log)->ApplyRetention(5000);
  EXPECT_GE((*log)->first_offset(), 6u);
  EXPECT_LT((*log)->first_offset(), 10u);
  auto rest = (*log)->Read(0, 100);
  EXPECT_EQ(rest->front().offset, (*log)->first_offset());
  EXPECT_EQ(rest->back().offset, 9u);
}

TEST(MqLog, ConcurrentAlwaysAppendsShareFsyncsAndKeepEveryRecord) {
  TempDir dir;
  auto log = PartitionLog::Open({dir.path(), FsyncPolicy::kAlways, 1 << 20, {}});
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto one = Batch({"m"});
        ASSERT_TRUE((*log)->Append(one, 1).ok());
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ((*log)->next_offset(), 200u);
  auto all = (*log)->Read(0, 1000);
  ASSERT_EQ(all->size(), 200u);
  for (size_t i = 0; i < all->size(); ++i) EXPECT_EQ((*all)[i].offset, i);
}

TEST(MqLog, ClearKeepsOffsetsIncreasingAcrossAReopen) {
  TempDir dir;
  {
    auto log = PartitionLog::Open({dir.path(), FsyncPolicy::kNever, 1 << 20, {}});
    auto b = Batch({"a", "b"});
    ASSERT_TRUE((*log)->Append(b, 1).ok());
    ASSERT_TRUE((*log)->Clear().ok());
    EXPECT_TRUE((*log)->Read(0, 10)->empty());
  }
  auto log = PartitionLog::Open({dir.path(), FsyncPolicy::kNever, 1 << 20, {}});
  EXPECT_EQ((*log)->first_offset(), 2u);
  auto c = Batch({"c"});
  EXPECT_EQ(*(*log)->Append(c, 1), 2u);
}

// The broker on a clock the test moves: delays, TTLs and redelivery backoff without sleeping.
class MqBrokerClock : public ::testing::Test {
 protected:
  void SetUp() override {
    EmbeddedBrokerOptions o;
    o.dir = dir_.path();
    o.fsync = FsyncPolicy::kNever;
    o.now_ms = [this] { return now_.load(); };
    auto opened = OpenEmbeddedBroker(o);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    broker_ = std::move(opened).value();
    ASSERT_TRUE(broker_->CreateTopic({"jobs", 1, std::nullopt, {}, 60000}).ok());
    SubscriptionSpec s;
    s.name = "workers";
    s.topic = "jobs";
    s.max_deliveries = 3;
    s.ack_timeout_ms = 1000;
    s.backoff_ms = 500;
    ASSERT_TRUE(broker_->CreateSubscription(s).ok());
  }
  std::vector<Delivery> Fetch() { return *broker_->Fetch("workers", 10, std::chrono::milliseconds(0)); }

  TempDir dir_;
  std::atomic<int64_t> now_{1'000'000};
  std::unique_ptr<Broker> broker_;
};

TEST_F(MqBrokerClock, DelayedMessageAppearsAtItsTime) {
  OutgoingMessage m;
  m.body = "later";
  m.delay_ms = 5000;
  ASSERT_TRUE(broker_->Publish("jobs", {m}).ok());
  EXPECT_TRUE(Fetch().empty());
  now_ += 4999;
  EXPECT_TRUE(Fetch().empty());
  now_ += 1;
  auto got = Fetch();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message.body, "later");
}

TEST_F(MqBrokerClock, TimeoutsBackOffExponentiallyThenDeadLetter) {
  OutgoingMessage m;
  m.body = "flaky";
  ASSERT_TRUE(broker_->Publish("jobs", {m}).ok());
  ASSERT_EQ(Fetch().size(), 1u);
  now_ += 1000;            // ack timeout: back after 500 ms (first backoff)
  EXPECT_TRUE(Fetch().empty());
  now_ += 500;
  auto second = Fetch();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].deliveries, 2);
  now_ += 1000;            // second timeout: 1000 ms backoff
  EXPECT_TRUE(Fetch().empty());
  now_ += 999;
  EXPECT_TRUE(Fetch().empty());
  now_ += 1;
  ASSERT_EQ(Fetch().size(), 1u);
  now_ += 1000;            // the third delivery times out: max_deliveries reached
  EXPECT_TRUE(Fetch().empty());
  auto dead = *broker_->DeadLetters("workers", 0, 10);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].reason, "max_deliveries");
}

TEST_F(MqBrokerClock, TtlExpiryDeadLettersWithoutDelivery) {
  OutgoingMessage m;
  m.body = "short-lived";
  m.ttl_ms = 100;
  ASSERT_TRUE(broker_->Publish("jobs", {m}).ok());
  now_ += 100;
  EXPECT_TRUE(Fetch().empty());
  auto dead = *broker_->DeadLetters("workers", 0, 10);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].reason, "expired");
  EXPECT_EQ(broker_->GetSubscription("workers")->backlog, 0u);
}

TEST_F(MqBrokerClock, SameKeyWaitsForTheEarlierOneToBeAcked) {
  std::vector<OutgoingMessage> ms(3);
  ms[0].key = ms[1].key = "a";
  ms[2].key = "b";
  ms[0].body = "a1";
  ms[1].body = "a2";
  ms[2].body = "b1";
  ASSERT_TRUE(broker_->Publish("jobs", ms).ok());
  auto first = Fetch();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].message.body, "a1");
  EXPECT_EQ(first[1].message.body, "b1");
  EXPECT_TRUE(Fetch().empty());
  ASSERT_EQ(broker_->Ack("workers", {first[0].id})->done, 1u);
  auto next = Fetch();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].message.body, "a2");
}

}  // namespace
