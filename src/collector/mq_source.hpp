// mq: a platform topic, read through the collector's own subscription (`collector-<name>`,
// from the earliest message kept). Messages are acknowledged only once the version holding
// them is stored. The broker may deliver a partition out of order (a key's later message waits
// while an earlier one is in flight), so what is stored is kept per partition as a watermark
// (every offset up to it) and the offsets stored above it; after a restart the subscription is
// moved to just after the watermark, and a redelivered message already stored is acknowledged
// and skipped, so none is stored twice or lost. Offset: {"partitions": {"<topic>:<partition>":
// watermark}, "above": {"<topic>:<partition>": [offsets]}}.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "collector/source.hpp"
#include "mq/broker.hpp"

namespace aimass::collector {

class MqSource final : public Source {
 public:
  MqSource(mq::Broker& broker, std::string collector, const nlohmann::json& source);
  Status Open(const nlohmann::json& offset) override;
  Status Pull(size_t max_rows, std::chrono::milliseconds wait, Pulled& out) override;
  void Committed(const nlohmann::json& offset) override;
  nlohmann::json Lag() override;
  // Removes the collector's subscription (the collector is deleted).
  void Drop();

 private:
  // What is stored in one partition: every offset up to `watermark` (-1: none) and `above`.
  struct Stored {
    int64_t watermark = -1;
    std::set<uint64_t> above;
    bool Has(uint64_t off) const { return static_cast<int64_t>(off) <= watermark || above.count(off); }
    void Add(uint64_t off);
  };
  static std::map<std::string, Stored> Parse(const nlohmann::json& offset);
  static nlohmann::json Render(const std::map<std::string, Stored>& stored);

  mq::Broker& broker_;
  std::string subscription_, topic_;
  std::map<std::string, Stored> committed_;  // "<topic>:<partition>" -> what versions hold
  std::map<std::string, Stored> read_;       // ... and what the batches in progress add
  struct Pending {
    std::string id, key;
    uint64_t offset = 0;
  };
  std::vector<Pending> unacked_;
};

}  // namespace aimass::collector
