// AssistService: the customer-service bots. A bot's definition is versioned in the metadata
// store; training a version is a pipeline run (train.assist → register → deploy) whose NLU
// model is served by the serving module as deployment `assist-<bot>`, so rolling a bot back is
// switching that deployment to an older model version. A message is understood by that
// deployment, answered by the dialogue policy (dialogue.hpp) with FAQ answers from the search
// module, and stored with the conversation's new state in one transaction; handoffs to people
// are queued on the message queue and worked from the agents' inbox. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "assist/bot.hpp"
#include "assist/dialogue.hpp"
#include "assist/store.hpp"
#include "assist/voice.hpp"
#include "common/principal.hpp"
#include "common/status.hpp"

namespace aimass::events {
class EventBus;
}
namespace aimass::serving {
class Serving;
}
namespace aimass::pipeline {
class Pipelines;
}
namespace aimass::search {
class SearchService;
}
namespace aimass::mq {
class Broker;
}

namespace aimass::assist {

struct AssistOptions {
  events::EventBus* bus = nullptr;
  serving::Serving* serving = nullptr;
  pipeline::Pipelines* pipelines = nullptr;
  search::SearchService* search = nullptr;
  mq::Broker* broker = nullptr;  // null: handoffs are not queued (the inbox still lists them)
  VoiceOptions voice;
  int64_t sweep_interval_ms = 60000;
};

// A spoken message's answer: the text answer with its transcript, and the replies spoken as a
// WAV file when asked (empty when there was nothing to say).
struct AudioAnswer {
  nlohmann::json body;
  std::string wav;
};

// A message to a bot, as the API takes it.
struct IncomingMessage {
  std::string conversation_id;  // empty: a new conversation with a generated id
  std::string text;
};

class AssistService {
 public:
  AssistService(storage::Db& db, AssistOptions options);
  ~AssistService();
  static std::vector<storage::Migration> Migrations() { return AssistStore::Migrations(); }

  void Start();
  void Stop();

  // Bots. Create and Update store a new version of the definition (not yet trained).
  Result<nlohmann::json> Create(const nlohmann::json& definition, const Principal& who);
  Result<nlohmann::json> Update(const std::string& bot, nlohmann::json definition, const Principal& who);
  Result<nlohmann::json> Get(const std::string& bot);
  Result<nlohmann::json> List();
  Status Delete(const std::string& bot);
  Result<nlohmann::json> Version(const std::string& bot, int64_t version);
  Result<nlohmann::json> Versions(const std::string& bot);

  // Starts the training pipeline for a version (the latest when none).
  Result<nlohmann::json> Train(const std::string& bot, std::optional<int64_t> version, const Principal& who);
  // Serves a trained version again.
  Result<nlohmann::json> Rollback(const std::string& bot, int64_t version, const Principal& who);

  // Understanding only: {"predictions":[{intent, confidence, entities, ranking}]}, in order.
  Result<nlohmann::json> Predict(const std::string& bot, const std::vector<std::string>& texts);
  // A customer's message: the bot's replies, what it understood, the conversation's state.
  Result<nlohmann::json> Message(const std::string& bot, const IncomingMessage& in);
  // The same from speech (a WAV file): recognised with the serving version's grammar, then
  // answered as text; with `speak`, the replies are spoken too.
  Result<AudioAnswer> AudioMessage(const std::string& bot, const std::string& conversation_id, std::string_view wav,
                                   bool speak);
  Result<nlohmann::json> Conversation(const std::string& bot, const std::string& id, int64_t after_turn);
  Result<nlohmann::json> Conversations(const std::string& bot, const std::string& status, int64_t limit);

  // The agents' side: waiting and active handoffs, the next waiting one (from the queue),
  // claiming one, answering, and handing the conversation back (to the bot) or closing it.
  Result<nlohmann::json> Handoffs(const std::string& bot, const std::string& state, int64_t limit);
  Result<nlohmann::json> NextHandoff(const std::string& bot, const Principal& agent);
  Result<nlohmann::json> Claim(const std::string& bot, const std::string& conversation, const Principal& agent);
  Result<nlohmann::json> AgentMessage(const std::string& bot, const std::string& conversation, const std::string& text,
                                      const Principal& agent);
  Result<nlohmann::json> EndHandoff(const std::string& bot, const std::string& conversation, bool close,
                                    const Principal& agent);

  // Intents over time, containment, fallback rate, handoff reasons, turns per conversation.
  Result<nlohmann::json> Analytics(const std::string& bot, int64_t from_ms, int64_t to_ms, int64_t interval_ms);

 private:
  // The bot version behind a model version of the bot's deployment, and its definition.
  struct Served {
    std::shared_ptr<const BotSpec> spec;
    int64_t bot_version = 0;
  };
  Result<Served> SpecFor(const std::string& bot, int64_t model_version);  // cached
  Result<std::shared_ptr<const BotSpec>> SpecOfVersion(const std::string& bot, int64_t version);
  // Training runs that ended since last looked at: their versions marked trained or failed.
  Status Refresh(const std::string& bot);
  Result<nlohmann::json> View(const std::string& bot);
  struct Understood {
    int64_t model_version = 0;
    Served served;  // of the model version that answered
    std::vector<Understanding> results;
    std::vector<nlohmann::json> rankings;
  };
  Result<Understood> Understand(const std::string& bot, const std::vector<std::string>& texts);
  std::optional<FaqAnswer> LookupFaq(const BotSpec& bot, const std::string& text);
  Status EnsureFaqIndex(const BotSpec& bot, const Principal& who);
  void PublishTurns(const std::vector<TurnRow>& turns);
  // A JSON message on a topic of the message queue, the topic (and `subscription` to it, when
  // given) created when missing.
  Status PublishOnTopic(const std::string& topic, const std::string& key, const std::string& body,
                        const char* subscription = nullptr);
  void QueueHandoff(const std::string& bot, const std::string& conversation, const std::string& reason,
                    const std::string& topic);
  Result<HandoffRow> OpenHandoffOf(const std::string& bot, const std::string& conversation);
  void Sweep();

  AssistStore store_;
  AssistOptions options_;
  VoiceChannel voice_;
  std::mutex mu_;
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<const BotSpec>> specs_;  // (bot, version)
  std::map<std::pair<std::string, int64_t>, int64_t> model_to_bot_version_;
  // One conversation's messages are handled one at a time (state read, then written).
  std::mutex conv_mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> conv_locks_;
  std::shared_ptr<std::mutex> ConversationLock(const std::string& key);

  std::thread sweeper_;
  std::mutex sweep_mu_;
  std::condition_variable sweep_cv_;
  bool stopping_ = false;
};

// The names the bot's parts get elsewhere in the platform.
std::string DeploymentOf(const std::string& bot);   // serving deployment and registry model
std::string PipelineOf(const std::string& bot);
std::string FaqIndexOf(const std::string& bot);     // the search index made from a FAQ dataset

}  // namespace aimass::assist
