// The LibTorch trainer on real data: Fashion-MNIST images (Debian's dataset-fashion-mnist) for
// the MLP, the CNN and regression, CLINC150 utterances (../shared/data) for the text model.
// Each quality claim is held against a baseline computed here; every exported module passed the
// trainer's own check (loaded back, answering as the trained network does) or TrainTorch fails.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "steps/torch_trainer.hpp"
#include "test_support.hpp"

namespace aimass::steps {
namespace {

std::string Gunzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) return "";
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return out;
}

// The first `n` images of Fashion-MNIST's test set as rows of 784 pixels, and their labels.
struct Images {
  std::vector<float> x;
  std::vector<float> y;
  size_t n = 0;
};

Images Fashion(size_t n) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  std::string px = Gunzip(dir + "t10k-images-idx3-ubyte.gz"), lb = Gunzip(dir + "t10k-labels-idx1-ubyte.gz");
  Images im;
  if (px.size() < 16 + n * 784 || lb.size() < 8 + n) return im;
  im.n = n;
  for (size_t i = 0; i < n * 784; ++i) im.x.push_back(static_cast<unsigned char>(px[16 + i]));
  for (size_t i = 0; i < n; ++i) im.y.push_back(static_cast<unsigned char>(lb[8 + i]));
  return im;
}

TorchTrainData Rows(const Images& im, size_t from, size_t to) {
  TorchTrainData d;
  d.rows = to - from;
  d.features = 784;
  d.x.assign(im.x.begin() + static_cast<ptrdiff_t>(from * 784), im.x.begin() + static_cast<ptrdiff_t>(to * 784));
  d.y.assign(im.y.begin() + static_cast<ptrdiff_t>(from), im.y.begin() + static_cast<ptrdiff_t>(to));
  return d;
}

double MajorityShare(const std::vector<float>& y) {
  std::map<float, size_t> counts;
  size_t top = 0;
  for (float v : y) top = std::max(top, ++counts[v]);
  return static_cast<double>(top) / static_cast<double>(y.size());
}

TEST(TextTermsTest, LowerCasePunctuationAsSpacesAndNgrams) {
  EXPECT_EQ(TextTerms("Hello, World!  hello", 2),
            (std::vector<std::string>{"hello", "world", "hello", "hello world", "world hello"}));
  EXPECT_EQ(TextTerms("don't\tstop", 1), (std::vector<std::string>{"don", "t", "stop"}));
  EXPECT_EQ(TextTerms("Größe ÜBER", 1), (std::vector<std::string>{"größe", "Über"}));  // ASCII only, as TorchScript's lower()
  EXPECT_TRUE(TextTerms(" ,.; ", 3).empty());
}

TEST(TorchTrainerTest, CnnAndMlpLearnFashionMnistFarAboveTheMajorityClass) {
  Images im = Fashion(3000);
  ASSERT_EQ(im.n, 3000u) << "dataset-fashion-mnist is not installed";
  TorchTrainData valid = Rows(im, 2500, 3000);
  const double baseline = MajorityShare(valid.y);
  for (const char* arch : {"cnn", "mlp"}) {
    TorchTrainOptions o;
    o.architecture = arch;
    o.classes = 10;
    o.epochs = 5;
    o.threads = 2;
    if (o.architecture == "cnn") {
      o.image_shape = {1, 28, 28};
      o.hidden = {8, 16, 32};
    }
    std::vector<TorchEpoch> heard;
    TorchTrainData v = valid;
    auto r = TrainTorch(o, Rows(im, 0, 2500), &v, [&](const TorchEpoch& e) {
      heard.push_back(e);
      return Status::Ok();
    });
    ASSERT_TRUE(r.ok()) << arch << ": " << r.status().message();
    ASSERT_EQ(heard.size(), 5u);
    EXPECT_LT(heard.back().train_loss, heard.front().train_loss) << arch;
    const TorchEpoch& kept = r->epochs[static_cast<size_t>(r->best_epoch - 1)];
    for (const auto& e : r->epochs) EXPECT_LE(e.validation_metric, kept.validation_metric) << arch;
    EXPECT_GT(kept.validation_metric, 0.7) << arch << " (majority class: " << baseline << ")";
    EXPECT_GT(kept.validation_metric, baseline + 0.5) << arch;
    EXPECT_EQ(r->input_datatype, "FP32");
    EXPECT_EQ(r->input_shape, (std::vector<int64_t>{-1, 784}));
    EXPECT_EQ(r->output_shape, (std::vector<int64_t>{-1, 10}));
    EXPECT_GT(r->torchscript.size(), 1000u);
  }
}

TEST(TorchTrainerTest, RegressionBeatsPredictingTheMean) {
  // A real relation in real images: the lower half's ink from the upper half's pixels.
  Images im = Fashion(3000);
  ASSERT_EQ(im.n, 3000u);
  auto half = [&](size_t from, size_t to) {
    TorchTrainData d;
    d.rows = to - from;
    d.features = 392;
    for (size_t r = from; r < to; ++r) {
      const float* p = im.x.data() + r * 784;
      d.x.insert(d.x.end(), p, p + 392);
      double ink = 0;
      for (size_t i = 392; i < 784; ++i) ink += p[i];
      d.y.push_back(static_cast<float>(ink / 392));
    }
    return d;
  };
  TorchTrainData train = half(0, 2500), valid = half(2500, 3000);
  double mean = 0, sq = 0;
  for (float y : train.y) mean += y;
  mean /= static_cast<double>(train.rows);
  for (float y : valid.y) sq += (y - mean) * (y - mean);
  const double baseline = std::sqrt(sq / static_cast<double>(valid.rows));
  TorchTrainOptions o;
  o.classification = false;
  o.epochs = 5;
  o.threads = 2;
  auto r = TrainTorch(o, train, &valid, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  double rmse = r->epochs[static_cast<size_t>(r->best_epoch - 1)].validation_metric;
  EXPECT_LT(rmse, 0.6 * baseline) << "RMSE " << rmse << ", predicting the mean: " << baseline;
  EXPECT_EQ(r->output_shape, (std::vector<int64_t>{-1, 1}));
}

TEST(TorchTrainerTest, TextClassifierOnClincIntents) {
  const std::string path = testing::SharedData("clinc150/data_full.json");
  std::ifstream f(path);
  ASSERT_TRUE(f) << path << " is missing";
  nlohmann::json data = nlohmann::json::parse(f);
  // The first 20 intents (as they first appear in the training part): 100 examples each.
  std::map<std::string, float> intents;
  for (const auto& row : data["train"]) {
    if (intents.size() < 20) intents.emplace(row[1].get<std::string>(), static_cast<float>(intents.size()));
  }
  auto part = [&](const char* name) {
    TorchTrainData d;
    for (const auto& row : data[name]) {
      auto it = intents.find(row[1].get<std::string>());
      if (it == intents.end()) continue;
      d.texts.push_back(row[0].get<std::string>());
      d.y.push_back(it->second);
      ++d.rows;
    }
    return d;
  };
  TorchTrainData train = part("train"), test = part("test");
  ASSERT_EQ(train.rows, 2000u);
  ASSERT_EQ(test.rows, 600u);
  TorchTrainOptions o;
  o.architecture = "text";
  o.classes = 20;
  o.epochs = 15;
  o.learning_rate = 0.01;
  o.batch_size = 32;
  o.threads = 2;
  o.dropout = 0.1;
  auto r = TrainTorch(o, train, &test, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  double acc = r->epochs[static_cast<size_t>(r->best_epoch - 1)].validation_metric;
  EXPECT_GT(acc, 0.85) << "(majority class: " << MajorityShare(test.y) << ")";
  EXPECT_EQ(r->input_datatype, "BYTES");
  EXPECT_EQ(r->input_shape, (std::vector<int64_t>{-1}));
}

TEST(TorchTrainerTest, EarlyStoppingAndStoppingFromTheCallbackAndBadShapes) {
  Images im = Fashion(600);
  ASSERT_EQ(im.n, 600u);
  TorchTrainOptions o;
  o.classes = 10;
  o.epochs = 50;
  o.patience = 2;  // 100 validation images: the accuracy soon stops setting records
  TorchTrainData v = Rows(im, 500, 600);
  auto r = TrainTorch(o, Rows(im, 0, 500), &v, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_LT(r->epochs.size(), 50u);
  EXPECT_EQ(static_cast<int>(r->epochs.size()), r->best_epoch + 2);

  o.patience = 0;
  int calls = 0;
  auto stopped = TrainTorch(o, Rows(im, 0, 500), nullptr, [&](const TorchEpoch&) {
    return ++calls == 2 ? Status::Unavailable("the platform went away") : Status::Ok();
  });
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(stopped.status().code(), Code::kUnavailable);

  o.architecture = "cnn";
  o.image_shape = {1, 20, 20};
  EXPECT_EQ(TrainTorch(o, Rows(im, 0, 100), nullptr, nullptr).status().code(), Code::kBadRequest);
  o.architecture = "mlp";
  o.classes = 5;  // labels up to 9
  EXPECT_EQ(TrainTorch(o, Rows(im, 0, 100), nullptr, nullptr).status().code(), Code::kBadRequest);
  o.optimizer = "rmsprop";
  o.classes = 10;
  EXPECT_EQ(TrainTorch(o, Rows(im, 0, 100), nullptr, nullptr).status().code(), Code::kBadRequest);
}

}  // namespace
}  // namespace aimass::steps
