#include "text/fasttext_classifier.hpp"

#include <fasttext/fasttext.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/file.hpp"
#include "common/random.hpp"
#include "text/analyzer.hpp"

namespace aimass::text {

namespace {

std::string LabelOf(int index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "__label__%05d", index);
  return buf;
}

// The analyzer's terms of `text` joined by spaces: what fastText reads, in training and after.
std::string TermLine(std::string_view text, const Analyzer& analyzer) {
  std::string line;
  for (const Token& t : analyzer.Tokenize(text, false)) {
    if (!line.empty()) line.push_back(' ');
    line += analyzer.Term(t);
  }
  return line;
}

}  // namespace

FastTextClassifier::FastTextClassifier() = default;
FastTextClassifier::~FastTextClassifier() = default;
FastTextClassifier::FastTextClassifier(FastTextClassifier&&) noexcept = default;
FastTextClassifier& FastTextClassifier::operator=(FastTextClassifier&&) noexcept = default;

Result<FastTextClassifier> FastTextClassifier::Train(const std::vector<std::string>& texts, const std::vector<int>& y,
                                                     int classes, const Analyzer& analyzer, const FastTextOptions& o,
                                                     const std::string& work_dir) {
  if (texts.size() != y.size() || texts.empty()) return Status::BadRequest("fastText needs examples, one label each");
  const std::string path = work_dir + "/fasttext-train-" + RandomHex(8) + ".txt";
  {
    std::ofstream out(path, std::ios::trunc);
    for (size_t i = 0; i < texts.size(); ++i) out << LabelOf(y[i]) << ' ' << TermLine(texts[i], analyzer) << '\n';
    if (!out) return Status::Internal("cannot write fastText's training file in " + work_dir);
  }
  fasttext::Args args;
  args.input = path;
  args.model = fasttext::model_name::sup;
  args.loss = fasttext::loss_name::softmax;
  args.verbose = 0;
  args.epoch = o.epochs;
  args.lr = o.learning_rate;
  args.dim = o.dim;
  args.wordNgrams = o.word_ngrams;
  args.minn = o.minn;
  args.maxn = o.maxn;
  args.bucket = o.bucket;
  args.thread = o.threads;
  args.minCount = 1;
  args.seed = 1;
  FastTextClassifier c;
  c.classes_ = classes;
  c.ft_ = std::make_unique<fasttext::FastText>();
  try {
    c.ft_->train(args);
  } catch (const std::exception& e) {
    std::remove(path.c_str());
    return Status::Internal(std::string("fastText: ") + e.what());
  }
  std::remove(path.c_str());
  return c;
}

void FastTextClassifier::Scores(std::string_view text, const Analyzer& analyzer, float* out) const {
  // A class fastText never saw (or that falls below its output) gets a tiny probability.
  for (int k = 0; k < classes_; ++k) out[k] = std::log(1e-6f);
  std::istringstream line(TermLine(text, analyzer) + "\n");
  std::vector<std::pair<fasttext::real, std::string>> predictions;
  try {
    ft_->predictLine(line, predictions, classes_, 0.0);
  } catch (const std::exception&) {
    return;
  }
  for (const auto& [p, label] : predictions) {
    const int k = std::atoi(label.c_str() + 9);
    if (k >= 0 && k < classes_) out[k] = std::log(std::max(static_cast<float>(p), 1e-6f));
  }
}

Result<std::string> FastTextClassifier::Save(const std::string& work_dir) const {
  const std::string path = work_dir + "/fasttext-" + RandomHex(8) + ".bin";
  try {
    ft_->saveModel(path);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("fastText: ") + e.what());
  }
  auto bytes = ReadFile(path);
  std::remove(path.c_str());
  return bytes;
}

Result<FastTextClassifier> FastTextClassifier::Load(std::string_view bytes, int classes) {
  FastTextClassifier c;
  c.classes_ = classes;
  c.ft_ = std::make_unique<fasttext::FastText>();
  // loadModel(istream) expects what follows fastText's magic number and version.
  constexpr int32_t kMagic = 793712314;
  int32_t head[2] = {0, 0};
  if (bytes.size() < sizeof head) return Status::Unprocessable("the fastText part is empty");
  std::memcpy(head, bytes.data(), sizeof head);
  if (head[0] != kMagic || head[1] < 11 || head[1] > 12) return Status::Unprocessable("the fastText part is not a fastText model");
  try {
    std::istringstream in{std::string(bytes.substr(sizeof head))};
    c.ft_->loadModel(in);
  } catch (const std::exception& e) {
    return Status::Unprocessable(std::string("the fastText part does not load: ") + e.what());
  }
  if (c.ft_->getArgs().model != fasttext::model_name::sup) return Status::Unprocessable("the fastText part is not a classifier");
  return c;
}

}  // namespace aimass::text
