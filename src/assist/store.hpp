// Where the assist module keeps its state, in the metadata store: bots and the versions of
// their definitions (with the training run and model version of each), conversations (their
// state as JSON, updated in the same transaction as the turns of a message), turns, and
// handoffs to people.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "storage/db.hpp"

namespace aimass::assist {

struct BotRow {
  std::string name;
  std::string owner;
  int64_t latest_version = 0;
  int64_t created_ms = 0, updated_ms = 0;
};

struct BotVersionRow {
  std::string bot;
  int64_t version = 0;
  std::string definition;  // JSON
  std::string created_by;
  int64_t created_ms = 0;
  std::string state = "draft";  // draft | training | trained | failed
  int64_t pipeline_run = 0;
  int64_t model_version = 0;
  std::string evaluation;  // JSON, or empty
  std::string error;
};

struct ConversationRow {
  std::string bot;
  std::string id;
  std::string state;  // JSON (dialogue.hpp's ConversationState)
  std::string status = "bot";  // bot | handoff | closed | expired
  int64_t session = 1;
  std::string agent;
  std::string handoff_reason;
  int64_t created_ms = 0, updated_ms = 0;
};

struct TurnRow {
  int64_t id = 0;
  std::string bot, conversation;
  int64_t session = 1;
  std::string role;  // user | bot | agent
  std::string text;
  std::string intent;
  double confidence = 0;
  bool fallback = false;
  bool faq = false;
  std::string source;  // JSON, or empty
  std::string author;  // the agent, for agent turns
  int64_t created_ms = 0;
};

struct HandoffRow {
  int64_t id = 0;
  std::string bot, conversation;
  std::string reason;
  std::string state = "waiting";  // waiting | active | released | closed
  std::string agent;
  int64_t created_ms = 0, claimed_ms = 0, ended_ms = 0;
};

class AssistStore {
 public:
  explicit AssistStore(storage::Db& db) : db_(db) {}
  static std::vector<storage::Migration> Migrations();

  // A new bot, or a new version of one (the bot row is created with version 1).
  Result<BotVersionRow> AddVersion(const std::string& bot, const std::string& definition, const std::string& who,
                                   bool must_be_new, int64_t now_ms);
  Result<BotRow> GetBot(const std::string& name);
  Result<std::vector<BotRow>> ListBots();
  Status DeleteBot(const std::string& name);
  Result<BotVersionRow> GetVersion(const std::string& bot, int64_t version);
  Result<std::vector<BotVersionRow>> Versions(const std::string& bot);
  Status SetTraining(const std::string& bot, int64_t version, int64_t pipeline_run);
  Status SetTrained(const std::string& bot, int64_t version, const std::string& state, int64_t model_version,
                    const std::string& evaluation, const std::string& error);

  Result<std::optional<ConversationRow>> GetConversation(const std::string& bot, const std::string& id);
  Result<std::vector<ConversationRow>> Conversations(const std::string& bot, const std::string& status, int64_t limit);
  // Saves the conversation and appends its turns in one transaction; `handoff`, when set, is
  // recorded with it. Returns the turns with their ids.
  Result<std::vector<TurnRow>> SaveTurns(const ConversationRow& c, std::vector<TurnRow> turns,
                                         const std::optional<HandoffRow>& handoff);
  Result<std::vector<TurnRow>> Turns(const std::string& bot, const std::string& conversation, int64_t after_id, int64_t limit);
  // The last `n` turns, oldest first.
  Result<std::vector<TurnRow>> LastTurns(const std::string& bot, const std::string& conversation, int64_t n);
  // Conversations of `bot` idle since before `cutoff_ms` and still with the bot: marked expired.
  Result<int64_t> ExpireIdle(const std::string& bot, int64_t cutoff_ms);

  Result<std::vector<HandoffRow>> Handoffs(const std::string& bot, const std::string& state, int64_t limit);
  Result<std::optional<HandoffRow>> OpenHandoff(const std::string& bot, const std::string& conversation);
  // Moves a handoff from one state to the next (claim: waiting → active with the agent; end:
  // active or waiting → released or closed) and sets the conversation's status to match.
  Status ClaimHandoff(int64_t id, const std::string& agent, int64_t now_ms);
  Status EndHandoff(int64_t id, const std::string& state, int64_t now_ms);

  // Analytics over [from_ms, to_ms).
  storage::Db& db() { return db_; }

 private:
  storage::Db& db_;
};

}  // namespace aimass::assist
