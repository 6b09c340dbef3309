// Whether a FAQ entry the search found answers a message: the share of the message's content
// words (stemmed, Chinese segmented; function words left out) that its question contains. BM25
// scores do not compare across queries, so this, not the score, decides between answering and
// saying the bot did not understand.
#pragma once

#include <string>
#include <string_view>

namespace aimass::assist {

double Coverage(std::string_view message, std::string_view question, const std::string& language);

}  // namespace aimass::assist
