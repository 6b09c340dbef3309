// libFuzzer target for what the search module reads from the network and from documents: the
// query and filter languages, search bodies, index specs, and text of any bytes through the
// analyzer (Latin words, Han runs with a small dictionary, broken UTF-8). The first byte
// picks the parser. Parsers must return a status, never crash; every token's offsets must lie
// in the text, in order.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "text/analyzer.hpp"
#include "text/chinese_segmenter.hpp"
#include "search/filter_syntax.hpp"
#include "search/index_spec.hpp"
#include "search/query_syntax.hpp"
#include "search/search_request.hpp"

namespace {

const aimass::text::ChineseSegmenter& Dictionary() {
  static aimass::text::ChineseSegmenter zh({{"软件", 500}, {"软件包", 300}, {"安装", 800}, {"如何", 900}, {"包", 100}});
  return zh;
}

void CheckTokens(const std::string& text, const std::vector<aimass::text::Token>& tokens) {
  uint32_t pos = 0;
  for (const auto& t : tokens) {
    if (t.begin > t.end || t.end > text.size() || t.word.empty()) std::abort();
    if (!t.sub && t.pos <= pos) std::abort();
    if (!t.sub) pos = t.pos;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: {
      (void)aimass::search::ParseQuery(text);
      break;
    }
    case 1: {
      (void)aimass::search::ParseFilter(text);
      break;
    }
    case 2: {
      auto j = nlohmann::json::parse(text, nullptr, false);
      if (j.is_discarded()) break;
      (void)aimass::search::ParseSearchRequest(j);
      auto spec = aimass::search::ParseIndexSpec(j);
      if (spec.ok()) (void)spec->ToJson();
      break;
    }
    case 3: {
      aimass::text::Analyzer en("en", &Dictionary());
      auto tokens = en.Tokenize(text, true);
      CheckTokens(text, tokens);
      for (const auto& t : tokens) (void)en.Term(t);
      break;
    }
    default: {
      aimass::text::Analyzer none("none", nullptr);
      CheckTokens(text, none.Tokenize(text, false));
      break;
    }
  }
  return 0;
}
