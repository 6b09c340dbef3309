#include "assist/faq_match.hpp"

#include <set>

#include "text/analyzer.hpp"
#include "text/nlu_model.hpp"

namespace aimass::assist {

namespace {

// Words that carry no topic, English and Chinese: a question sharing only these is no match.
bool FunctionWord(const std::string& w) {
  static const std::set<std::string> kWords = {
      "a", "an", "the", "i", "me", "my", "you", "your", "we", "our", "it", "its", "is", "are", "was", "were", "be",
      "do", "does", "did", "can", "could", "would", "should", "will", "shall", "may", "might", "must", "have", "has",
      "had", "to", "of", "in", "on", "at", "for", "with", "by", "from", "about", "as", "into", "and", "or", "but",
      "if", "so", "not", "no", "what", "which", "who", "whom", "how", "why", "when", "where", "this", "that", "these",
      "those", "there", "here", "please", "some", "any", "get", "there's", "what's", "how's", "i'm", "it's",
      "的", "了", "吗", "呢", "吧", "啊", "是", "我", "你", "在", "有", "和", "怎么", "什么", "如何", "请问", "一个", "可以"};
  return kWords.count(w) > 0;
}

std::set<std::string> Terms(std::string_view text, const text::Analyzer& a) {
  std::set<std::string> out;
  for (const auto& t : a.Tokenize(text, false)) {
    if (!FunctionWord(t.word)) out.insert(a.Term(t));
  }
  return out;
}

}  // namespace

double Coverage(std::string_view message, std::string_view question, const std::string& language) {
  const text::ChineseSegmenter* zh =
      language == "zh" ? text::SharedChineseSegmenter(std::string(text::kDefaultZhDictionary)) : nullptr;
  text::Analyzer a(language, zh);
  const std::set<std::string> m = Terms(message, a);
  if (m.empty()) return 0;
  const std::set<std::string> q = Terms(question, a);
  size_t hit = 0;
  for (const auto& t : m) hit += q.count(t);
  return static_cast<double>(hit) / static_cast<double>(m.size());
}

}  // namespace aimass::assist
