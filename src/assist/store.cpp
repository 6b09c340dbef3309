#include "assist/store.hpp"

#include <cerrno>

#include "common/failpoint.hpp"

namespace aimass::assist {

using storage::Row;

namespace {

constexpr const char* kVersionColumns =
    "bot, version, definition, created_by, created_ms, state, pipeline_run, model_version, evaluation, error";
constexpr const char* kConversationColumns =
    "bot, id, state, status, session, agent, handoff_reason, created_ms, updated_ms";
constexpr const char* kTurnColumns =
    "id, bot, conversation, session, role, text, intent, confidence, fallback, faq, source, author, created_ms";
constexpr const char* kHandoffColumns = "id, bot, conversation, reason, state, agent, created_ms, claimed_ms, ended_ms";

BotVersionRow VersionFrom(const Row& r) {
  return {r.Text(0), r.Int(1), r.Text(2), r.Text(3), r.Int(4), r.Text(5), r.Int(6), r.Int(7), r.Text(8), r.Text(9)};
}
ConversationRow ConversationFrom(const Row& r) {
  return {r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4), r.Text(5), r.Text(6), r.Int(7), r.Int(8)};
}
TurnRow TurnFrom(const Row& r) {
  return {r.Int(0), r.Text(1), r.Text(2), r.Int(3), r.Text(4), r.Text(5), r.Text(6), r.Double(7),
          r.Int(8) != 0, r.Int(9) != 0, r.Text(10), r.Text(11), r.Int(12)};
}
HandoffRow HandoffFrom(const Row& r) {
  return {r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4), r.Text(5), r.Int(6), r.Int(7), r.Int(8)};
}

}  // namespace

std::vector<storage::Migration> AssistStore::Migrations() {
  return {{"assist", 1, R"(
CREATE TABLE assist_bots (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  latest_version INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE TABLE assist_bot_versions (
  bot TEXT NOT NULL,
  version INTEGER NOT NULL,
  definition TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  state TEXT NOT NULL,
  pipeline_run INTEGER NOT NULL DEFAULT 0,
  model_version INTEGER NOT NULL DEFAULT 0,
  evaluation TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (bot, version)
);
CREATE TABLE assist_conversations (
  bot TEXT NOT NULL,
  id TEXT NOT NULL,
  state TEXT NOT NULL,
  status TEXT NOT NULL,
  session INTEGER NOT NULL,
  agent TEXT NOT NULL DEFAULT '',
  handoff_reason TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (bot, id)
);
CREATE INDEX assist_conversations_idle ON assist_conversations (bot, status, updated_ms);
CREATE TABLE assist_turns (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  bot TEXT NOT NULL,
  conversation TEXT NOT NULL,
  session INTEGER NOT NULL,
  role TEXT NOT NULL,
  text TEXT NOT NULL,
  intent TEXT NOT NULL DEFAULT '',
  confidence REAL NOT NULL DEFAULT 0,
  fallback INTEGER NOT NULL DEFAULT 0,
  faq INTEGER NOT NULL DEFAULT 0,
  source TEXT NOT NULL DEFAULT '',
  author TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL
);
CREATE INDEX assist_turns_conversation ON assist_turns (bot, conversation, id);
CREATE INDEX assist_turns_time ON assist_turns (bot, created_ms);
CREATE TABLE assist_handoffs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  bot TEXT NOT NULL,
  conversation TEXT NOT NULL,
  reason TEXT NOT NULL,
  state TEXT NOT NULL,
  agent TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  claimed_ms INTEGER NOT NULL DEFAULT 0,
  ended_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX assist_handoffs_state ON assist_handoffs (bot, state, id);
)"}};
}

Result<BotVersionRow> AssistStore::AddVersion(const std::string& bot, const std::string& definition, const std::string& who,
                                              bool must_be_new, int64_t now_ms) {
  BotVersionRow v;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT latest_version FROM assist_bots WHERE name = ?", {bot}));
    if (rows.empty()) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO assist_bots (name, owner, latest_version, created_ms, updated_ms) VALUES (?, ?, 1, ?, ?)",
                                     {bot, who, now_ms, now_ms}).status());
      v.version = 1;
    } else {
      if (must_be_new) return Status::Conflict("bot '" + bot + "' exists");
      v.version = rows[0].Int(0) + 1;
      AIMASS_RETURN_IF_ERROR(tx.Exec("UPDATE assist_bots SET latest_version = ?, updated_ms = ? WHERE name = ?",
                                     {v.version, now_ms, bot}).status());
    }
    v.bot = bot;
    v.definition = definition;
    v.created_by = who;
    v.created_ms = now_ms;
    return tx.Exec("INSERT INTO assist_bot_versions (bot, version, definition, created_by, created_ms, state) VALUES (?, ?, ?, ?, ?, ?)",
                   {bot, v.version, definition, who, now_ms, v.state}).status();
  }));
  return v;
}

Result<BotRow> AssistStore::GetBot(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT name, owner, latest_version, created_ms, updated_ms FROM assist_bots WHERE name = ?", {name}));
  if (rows.empty()) return Status::NotFound("no bot '" + name + "'");
  return BotRow{rows[0].Text(0), rows[0].Text(1), rows[0].Int(2), rows[0].Int(3), rows[0].Int(4)};
}

Result<std::vector<BotRow>> AssistStore::ListBots() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT name, owner, latest_version, created_ms, updated_ms FROM assist_bots ORDER BY name"));
  std::vector<BotRow> out;
  for (const auto& r : rows) out.push_back({r.Text(0), r.Text(1), r.Int(2), r.Int(3), r.Int(4)});
  return out;
}

Status AssistStore::DeleteBot(const std::string& name) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM assist_bots WHERE name = ?", {name}));
    if (n == 0) return Status::NotFound("no bot '" + name + "'");
    for (const char* table : {"assist_bot_versions", "assist_conversations", "assist_turns", "assist_handoffs"}) {
      AIMASS_RETURN_IF_ERROR(tx.Exec(std::string("DELETE FROM ") + table + " WHERE bot = ?", {name}).status());
    }
    return Status::Ok();
  });
}

Result<BotVersionRow> AssistStore::GetVersion(const std::string& bot, int64_t version) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kVersionColumns +
                                                   " FROM assist_bot_versions WHERE bot = ? AND version = ?",
                                               {bot, version}));
  if (rows.empty()) return Status::NotFound("bot '" + bot + "' has no version " + std::to_string(version));
  return VersionFrom(rows[0]);
}

Result<std::vector<BotVersionRow>> AssistStore::Versions(const std::string& bot) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kVersionColumns +
                                                   " FROM assist_bot_versions WHERE bot = ? ORDER BY version DESC",
                                               {bot}));
  std::vector<BotVersionRow> out;
  for (const auto& r : rows) out.push_back(VersionFrom(r));
  return out;
}

Status AssistStore::SetTraining(const std::string& bot, int64_t version, int64_t pipeline_run) {
  return db_.Exec("UPDATE assist_bot_versions SET state = 'training', pipeline_run = ?, error = '' WHERE bot = ? AND version = ?",
                  {pipeline_run, bot, version}).status();
}

Status AssistStore::SetTrained(const std::string& bot, int64_t version, const std::string& state, int64_t model_version,
                               const std::string& evaluation, const std::string& error) {
  return db_.Exec("UPDATE assist_bot_versions SET state = ?, model_version = ?, evaluation = ?, error = ? WHERE bot = ? AND version = ?",
                  {state, model_version, evaluation, error, bot, version}).status();
}

Result<std::optional<ConversationRow>> AssistStore::GetConversation(const std::string& bot, const std::string& id) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kConversationColumns +
                                                   " FROM assist_conversations WHERE bot = ? AND id = ?",
                                               {bot, id}));
  if (rows.empty()) return std::optional<ConversationRow>();
  return std::optional<ConversationRow>(ConversationFrom(rows[0]));
}

Result<std::vector<ConversationRow>> AssistStore::Conversations(const std::string& bot, const std::string& status, int64_t limit) {
  std::string sql = std::string("SELECT ") + kConversationColumns + " FROM assist_conversations WHERE bot = ?";
  std::vector<storage::Value> params = {bot};
  if (!status.empty()) {
    sql += " AND status = ?";
    params.push_back(status);
  }
  sql += " ORDER BY updated_ms DESC LIMIT ?";
  params.push_back(limit);
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(sql, params));
  std::vector<ConversationRow> out;
  for (const auto& r : rows) out.push_back(ConversationFrom(r));
  return out;
}

Result<std::vector<TurnRow>> AssistStore::SaveTurns(const ConversationRow& c, std::vector<TurnRow> turns,
                                                    const std::optional<HandoffRow>& handoff) {
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_RETURN_IF_ERROR(
        tx.Exec("INSERT INTO assist_conversations (bot, id, state, status, session, agent, handoff_reason, created_ms, updated_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bot, id) DO UPDATE SET state = excluded.state, "
                "status = excluded.status, session = excluded.session, agent = excluded.agent, "
                "handoff_reason = excluded.handoff_reason, updated_ms = excluded.updated_ms",
                {c.bot, c.id, c.state, c.status, c.session, c.agent, c.handoff_reason, c.created_ms, c.updated_ms})
            .status());
    for (auto& t : turns) {
      AIMASS_RETURN_IF_ERROR(
          tx.Exec("INSERT INTO assist_turns (bot, conversation, session, role, text, intent, confidence, fallback, faq, source, author, created_ms) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  {c.bot, c.id, c.session, t.role, t.text, t.intent, t.confidence, int64_t{t.fallback}, int64_t{t.faq},
                   t.source, t.author, t.created_ms})
              .status());
      t.id = tx.LastInsertId();
      t.bot = c.bot;
      t.conversation = c.id;
      t.session = c.session;
    }
    if (handoff) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO assist_handoffs (bot, conversation, reason, state, created_ms) VALUES (?, ?, ?, 'waiting', ?)",
                                     {c.bot, c.id, handoff->reason, handoff->created_ms}).status());
    }
    if (AIMASS_FAILPOINT("assist.before_turns_commit")) return failpoint::IoError("assist.before_turns_commit", EIO);
    return Status::Ok();
  }));
  if (AIMASS_FAILPOINT("assist.after_turns_commit")) return failpoint::IoError("assist.after_turns_commit", EIO);
  return turns;
}

Result<std::vector<TurnRow>> AssistStore::Turns(const std::string& bot, const std::string& conversation, int64_t after_id,
                                                int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kTurnColumns +
                                                   " FROM assist_turns WHERE bot = ? AND conversation = ? AND id > ? ORDER BY id LIMIT ?",
                                               {bot, conversation, after_id, limit}));
  std::vector<TurnRow> out;
  for (const auto& r : rows) out.push_back(TurnFrom(r));
  return out;
}

Result<std::vector<TurnRow>> AssistStore::LastTurns(const std::string& bot, const std::string& conversation, int64_t n) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kTurnColumns +
                                                   " FROM assist_turns WHERE bot = ? AND conversation = ? ORDER BY id DESC LIMIT ?",
                                               {bot, conversation, n}));
  std::vector<TurnRow> out;
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) out.push_back(TurnFrom(*it));
  return out;
}

Result<int64_t> AssistStore::ExpireIdle(const std::string& bot, int64_t cutoff_ms) {
  return db_.Exec("UPDATE assist_conversations SET status = 'expired' WHERE bot = ? AND status = 'bot' AND updated_ms < ?",
                  {bot, cutoff_ms});
}

Result<std::vector<HandoffRow>> AssistStore::Handoffs(const std::string& bot, const std::string& state, int64_t limit) {
  std::string sql = std::string("SELECT ") + kHandoffColumns + " FROM assist_handoffs WHERE 1 = 1";
  std::vector<storage::Value> params;
  if (!bot.empty()) {
    sql += " AND bot = ?";
    params.push_back(bot);
  }
  if (!state.empty()) {
    sql += " AND state = ?";
    params.push_back(state);
  }
  sql += " ORDER BY id LIMIT ?";
  params.push_back(limit);
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(sql, params));
  std::vector<HandoffRow> out;
  for (const auto& r : rows) out.push_back(HandoffFrom(r));
  return out;
}

Result<std::optional<HandoffRow>> AssistStore::OpenHandoff(const std::string& bot, const std::string& conversation) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kHandoffColumns +
                                                   " FROM assist_handoffs WHERE bot = ? AND conversation = ? AND state IN ('waiting', 'active') "
                                                   "ORDER BY id DESC LIMIT 1",
                                               {bot, conversation}));
  if (rows.empty()) return std::optional<HandoffRow>();
  return std::optional<HandoffRow>(HandoffFrom(rows[0]));
}

Status AssistStore::ClaimHandoff(int64_t id, const std::string& agent, int64_t now_ms) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE assist_handoffs SET state = 'active', agent = ?, claimed_ms = ? WHERE id = ? AND state = 'waiting'",
                                               {agent, now_ms, id}));
    if (n == 0) return Status::Conflict("the handoff is not waiting (another agent has it, or it ended)");
    return tx.Exec("UPDATE assist_conversations SET agent = ? WHERE (bot, id) IN (SELECT bot, conversation FROM assist_handoffs WHERE id = ?)",
                   {agent, id}).status();
  });
}

Status AssistStore::EndHandoff(int64_t id, const std::string& state, int64_t now_ms) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT bot, conversation, state FROM assist_handoffs WHERE id = ?", {id}));
    if (rows.empty()) return Status::NotFound("no handoff " + std::to_string(id));
    const std::string prior = rows[0].Text(2);
    if (prior != "waiting" && prior != "active") return Status::Conflict("the handoff has ended already");
    AIMASS_RETURN_IF_ERROR(tx.Exec("UPDATE assist_handoffs SET state = ?, ended_ms = ? WHERE id = ?", {state, now_ms, id}).status());
    // Released: the bot answers again, its state as the handoff left it; closed: done.
    return tx.Exec("UPDATE assist_conversations SET status = ?, agent = '', updated_ms = ? WHERE bot = ? AND id = ?",
                   {std::string(state == "released" ? "bot" : "closed"), now_ms, rows[0].Text(0), rows[0].Text(1)}).status();
  });
}

}  // namespace aimass::assist
