// A bot's numbers over a time range, from its stored turns and handoffs: messages and intents
// per interval, the fallback rate (messages the bot did not understand), containment (the share
// of conversations solved without a person), handoffs by reason, and messages per conversation.
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "storage/db.hpp"

namespace aimass::assist {

Result<nlohmann::json> BotAnalytics(storage::Db& db, const std::string& bot, int64_t from_ms, int64_t to_ms,
                                    int64_t interval_ms);

}  // namespace aimass::assist
