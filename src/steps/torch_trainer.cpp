// Built as C++17 with LibTorch (CMakeLists.txt). The networks are trained as torch::nn modules
// and exported by writing the same forward pass as TorchScript source over the trained
// tensors (torch::jit::Module::define): LibTorch has no tracer or scripter for C++ modules, and
// the source is short. The inputs' normalisation (and, for text, the vocabulary) is part of
// the exported module, so it takes the table's raw values.
#include "steps/torch_trainer.hpp"

#include <torch/script.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <unordered_map>

namespace aimass::steps {

namespace {

constexpr const char* kPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// The network being trained. Its forward pass is the one ExportSource writes as TorchScript.
struct Net : torch::nn::Module {
  std::string arch;
  std::vector<torch::nn::Linear> dense;   // mlp: all layers; cnn: the two after the convolutions; text: the output
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::EmbeddingBag embedding{nullptr};
  double dropout = 0;
  std::vector<int64_t> image;  // c, h, w

  torch::Tensor Hidden(torch::Tensor h, size_t i) {
    h = torch::relu(dense[i]->forward(h));
    return torch::dropout(h, dropout, is_training());
  }

  // x: normalised features [n, f] (mlp, cnn), or, for text, ids and offsets.
  torch::Tensor forward(torch::Tensor x, torch::Tensor offsets = {}) {
    if (arch == "text") {
      torch::Tensor h = embedding->forward(x, offsets);
      return dense[0]->forward(torch::dropout(h, dropout, is_training()));
    }
    if (arch == "cnn") {
      x = x.reshape({-1, image[0], image[1], image[2]});
      x = torch::max_pool2d(torch::relu(conv1->forward(x)), 2);
      x = torch::max_pool2d(torch::relu(conv2->forward(x)), 2);
      x = Hidden(torch::flatten(x, 1), 0);
      return dense[1]->forward(x);
    }
    for (size_t i = 0; i + 1 < dense.size(); ++i) x = Hidden(x, i);
    return dense.back()->forward(x);
  }
};

// Per-feature (mlp) or overall (cnn) mean and standard deviation of the training rows, NaN
// left out.
struct Scaling {
  torch::Tensor mean, std;
  bool missing = false;  // some value was NaN: the exported module replaces them too
};

Scaling FitScaling(const TorchTrainData& d, bool per_feature) {
  const size_t f = d.features;
  size_t groups = per_feature ? f : 1;
  std::vector<double> sum(groups), sq(groups), n(groups);
  bool missing = false;
  for (size_t r = 0; r < d.rows; ++r) {
    for (size_t c = 0; c < f; ++c) {
      float v = d.x[r * f + c];
      if (std::isnan(v)) {
        missing = true;
        continue;
      }
      size_t g = per_feature ? c : 0;
      sum[g] += v;
      sq[g] += static_cast<double>(v) * v;
      n[g] += 1;
    }
  }
  std::vector<float> mean(groups), sd(groups);
  for (size_t g = 0; g < groups; ++g) {
    double m = n[g] ? sum[g] / n[g] : 0;
    double var = n[g] ? sq[g] / n[g] - m * m : 0;
    mean[g] = static_cast<float>(m);
    sd[g] = var > 1e-12 ? static_cast<float>(std::sqrt(var)) : 1.0f;
  }
  return {torch::tensor(mean), torch::tensor(sd), missing};
}

// In place: the rows' memory becomes the tensor's (a second copy of a large table is what a
// job's memory limit cannot spare).
torch::Tensor Normalise(TorchTrainData& d, const Scaling& s) {
  torch::Tensor x = torch::from_blob(d.x.data(), {static_cast<int64_t>(d.rows), static_cast<int64_t>(d.features)},
                                     torch::kFloat32);
  x.sub_(s.mean).div_(s.std).nan_to_num_(0.0);
  return x;
}

// Text as n-gram ids: a flat list and each row's offset into it.
struct Bags {
  torch::Tensor ids, offsets;
  std::vector<int64_t> flat, starts;
  torch::Tensor Rows(const torch::Tensor& rows, torch::Tensor& offsets_out) const {
    std::vector<int64_t> ids_out, offs;
    auto acc = rows.accessor<int64_t, 1>();
    for (int64_t i = 0; i < rows.size(0); ++i) {
      int64_t r = acc[i];
      offs.push_back(static_cast<int64_t>(ids_out.size()));
      int64_t end = r + 1 < static_cast<int64_t>(starts.size()) ? starts[r + 1] : static_cast<int64_t>(flat.size());
      ids_out.insert(ids_out.end(), flat.begin() + starts[r], flat.begin() + end);
    }
    offsets_out = torch::tensor(offs, torch::kInt64);
    return torch::tensor(ids_out, torch::kInt64);
  }
};

Bags MakeBags(const TorchTrainData& d, const std::unordered_map<std::string, int64_t>& vocab, int64_t ngrams) {
  Bags b;
  for (size_t r = 0; r < d.rows; ++r) {
    b.starts.push_back(static_cast<int64_t>(b.flat.size()));
    for (const auto& t : TextTerms(d.texts[r], ngrams)) {
      auto it = vocab.find(t);
      if (it != vocab.end()) b.flat.push_back(it->second);
    }
  }
  return b;
}

std::string Join(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s;
}

// The exported module's source: normalisation, the same layers as Net::forward in eval mode,
// softmax for classes, the target's scale back for regression.
std::string ExportSource(const TorchTrainOptions& o, const Net& net, bool missing) {
  std::ostringstream s;
  std::string head;
  if (o.architecture == "text") {
    s << "def terms(self, text: str) -> List[str]:\n"
         "    s = text.lower()\n"
         "    for p in self.punctuation:\n"
         "        s = s.replace(p, ' ')\n"
         "    words = s.split()\n"
         "    out = words[:]\n"
         "    n = 2\n"
         "    while n <= " << o.ngrams << ":\n"
         "        for i in range(len(words) - n + 1):\n"
         "            out.append(' '.join(words[i:i + n]))\n"
         "        n += 1\n"
         "    return out\n\n"
         "def forward(self, text: List[str]):\n"
         "    rows: List[Tensor] = []\n"
         "    for t in text:\n"
         "        ids: List[int] = []\n"
         "        for term in self.terms(t):\n"
         "            k = self.vocab.get(term, -1)\n"
         "            if k >= 0:\n"
         "                ids.append(k)\n"
         "        if len(ids) == 0:\n"
         "            rows.append(torch.zeros([self.embedding.size(1)]))\n"
         "        else:\n"
         "            rows.append(torch.index_select(self.embedding, 0, torch.tensor(ids)).mean(0))\n"
         "    h = torch.stack(rows)\n"
         "    y = torch.matmul(h, self.w0.t()) + self.b0\n";
  } else {
    // NaN (a missing value) becomes the mean only when training saw one: the replacement
    // exports to ONNX as IsNaN, which OpenCV's ONNX runtime cannot run.
    s << "def forward(self, input):\n";
    if (missing) s << "    x = torch.nan_to_num((input.float() - self.mean) / self.std, 0.0)\n";
    else s << "    x = (input.float() - self.mean) / self.std\n";
    if (o.architecture == "cnn") {
      s << "    x = x.reshape([-1, " << Join(net.image) << "])\n"
           "    x = torch.max_pool2d(torch.relu(torch.conv2d(x, self.c1w, self.c1b, [1, 1], [1, 1])), [2, 2])\n"
           "    x = torch.max_pool2d(torch.relu(torch.conv2d(x, self.c2w, self.c2b, [1, 1], [1, 1])), [2, 2])\n"
           "    x = torch.flatten(x, 1)\n";
    }
    for (size_t i = 0; i < net.dense.size(); ++i) {
      s << "    x = torch.matmul(x, self.w" << i << ".t()) + self.b" << i << "\n";
      if (i + 1 < net.dense.size()) s << "    x = torch.relu(x)\n";
    }
    s << "    y = x\n";
  }
  if (o.classification) s << "    return torch.softmax(y, 1)\n";
  else s << "    return y * self.ystd + self.ymean\n";
  return s.str();
}

torch::Tensor Detach(const torch::Tensor& t) { return t.detach().clone().contiguous(); }

}  // namespace

std::vector<std::string> TextTerms(const std::string& text, int64_t ngrams) {
  std::string s = text;
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    else if (std::strchr(kPunctuation, c) && c != '\0') c = ' ';
  }
  std::vector<std::string> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && IsSpace(s[i])) ++i;
    size_t j = i;
    while (j < s.size() && !IsSpace(s[j])) ++j;
    if (j > i) words.push_back(s.substr(i, j - i));
    i = j;
  }
  std::vector<std::string> out = words;
  for (int64_t n = 2; n <= ngrams; ++n) {
    for (size_t k = 0; k + n <= words.size(); ++k) {
      std::string g = words[k];
      for (int64_t m = 1; m < n; ++m) g += " " + words[k + m];
      out.push_back(std::move(g));
    }
  }
  return out;
}

Result<TorchTrainResult> TrainTorch(const TorchTrainOptions& o, TorchTrainData train, TorchTrainData* valid,
                                    const std::function<Status(const TorchEpoch&)>& on_epoch) {
  try {
    // Rows kept as they are for checking the exported module (the tables are normalised in place).
    const TorchTrainData& sample = valid && valid->rows ? *valid : train;
    const int64_t k = std::min<int64_t>(64, static_cast<int64_t>(sample.rows));
    std::vector<float> sample_x(sample.x.begin(), sample.x.begin() + std::min(sample.x.size(), static_cast<size_t>(k) * sample.features));
    const bool sample_is_train = &sample == &train;
    if (train.rows == 0) return Status::BadRequest("no training rows");
    if (o.classification && o.classes < 2) return Status::BadRequest("classification needs at least two classes");
    torch::manual_seed(o.seed);
    at::set_num_threads(std::max(1, o.threads));
    const bool text = o.architecture == "text";
    const int64_t outputs = o.classification ? o.classes : 1;

    // Inputs as tensors.
    Scaling scaling;
    torch::Tensor x_train, x_valid;
    std::unordered_map<std::string, int64_t> vocab;
    Bags bags_train, bags_valid;
    if (text) {
      std::unordered_map<std::string, int64_t> counts;
      for (const auto& t : train.texts) {
        for (auto& term : TextTerms(t, o.ngrams)) ++counts[term];
      }
      std::vector<std::string> kept;
      for (const auto& [term, n] : counts) {
        if (n >= o.min_count) kept.push_back(term);
      }
      std::sort(kept.begin(), kept.end());
      for (size_t i = 0; i < kept.size(); ++i) vocab[kept[i]] = static_cast<int64_t>(i);
      if (vocab.empty()) return Status::BadRequest("the texts have no words seen often enough (with.min_count)");
      bags_train = MakeBags(train, vocab, o.ngrams);
      if (valid) bags_valid = MakeBags(*valid, vocab, o.ngrams);
    } else {
      if (train.features == 0) return Status::BadRequest("no feature columns");
      scaling = FitScaling(train, o.architecture == "mlp");
      x_train = Normalise(train, scaling);
      if (valid) x_valid = Normalise(*valid, scaling);
    }
    torch::Tensor y_train = torch::tensor(train.y);
    torch::Tensor y_valid = valid ? torch::tensor(valid->y) : torch::Tensor();
    double y_mean = 0, y_std = 1;
    if (o.classification) {
      y_train = y_train.to(torch::kInt64);
      if (valid) y_valid = y_valid.to(torch::kInt64);
      if (y_train.min().item<int64_t>() < 0 || y_train.max().item<int64_t>() >= o.classes) {
        return Status::BadRequest("a label is not a class index below " + std::to_string(o.classes));
      }
    } else {
      y_mean = y_train.mean().item<double>();
      y_std = train.rows > 1 ? y_train.std().item<double>() : 1.0;
      if (!(y_std > 1e-12)) y_std = 1;
    }

    // The network.
    auto net = std::make_shared<Net>();
    net->arch = o.architecture;
    net->dropout = o.dropout;
    std::string summary;
    if (text) {
      net->embedding = net->register_module(
          "embedding", torch::nn::EmbeddingBag(torch::nn::EmbeddingBagOptions(static_cast<int64_t>(vocab.size()), o.embedding_dim)
                                                   .mode(torch::kMean)));
      net->dense.push_back(net->register_module("d0", torch::nn::Linear(o.embedding_dim, outputs)));
      summary = "bag of " + std::to_string(o.ngrams) + "-grams (" + std::to_string(vocab.size()) + " terms) → embedding " +
                std::to_string(o.embedding_dim) + " → " + std::to_string(outputs);
    } else if (o.architecture == "cnn") {
      if (o.image_shape.size() != 3) return Status::BadRequest("with.image_shape is [channels, height, width]");
      int64_t product = o.image_shape[0] * o.image_shape[1] * o.image_shape[2];
      if (product != static_cast<int64_t>(train.features)) {
        return Status::BadRequest("with.image_shape holds " + std::to_string(product) + " values, the table " +
                                  std::to_string(train.features) + " features");
      }
      if (o.image_shape[1] < 4 || o.image_shape[2] < 4) return Status::BadRequest("images are at least 4×4");
      std::vector<int64_t> h = o.hidden.empty() ? std::vector<int64_t>{32, 64, 128} : o.hidden;
      if (h.size() != 3) return Status::BadRequest("with.hidden for a cnn is [conv1 channels, conv2 channels, dense width]");
      net->image = o.image_shape;
      net->conv1 = net->register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.image_shape[0], h[0], 3).padding(1)));
      net->conv2 = net->register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(h[0], h[1], 3).padding(1)));
      int64_t flat = h[1] * (o.image_shape[1] / 4) * (o.image_shape[2] / 4);
      net->dense.push_back(net->register_module("d0", torch::nn::Linear(flat, h[2])));
      net->dense.push_back(net->register_module("d1", torch::nn::Linear(h[2], outputs)));
      summary = "conv3×3 " + std::to_string(h[0]) + " → pool → conv3×3 " + std::to_string(h[1]) + " → pool → dense " +
                std::to_string(h[2]) + " → " + std::to_string(outputs);
    } else if (o.architecture == "mlp") {
      std::vector<int64_t> h = o.hidden.empty() ? std::vector<int64_t>{128, 64} : o.hidden;
      int64_t prev = static_cast<int64_t>(train.features);
      summary = std::to_string(prev);
      for (size_t i = 0; i <= h.size(); ++i) {
        int64_t next = i < h.size() ? h[i] : outputs;
        if (next < 1) return Status::BadRequest("with.hidden widths are at least 1");
        net->dense.push_back(net->register_module("d" + std::to_string(i), torch::nn::Linear(prev, next)));
        summary += " → " + std::to_string(next);
        prev = next;
      }
    } else {
      return Status::BadRequest("with.architecture is mlp, cnn or text");
    }

    std::unique_ptr<torch::optim::Optimizer> opt;
    if (o.optimizer == "adam") {
      opt = std::make_unique<torch::optim::Adam>(net->parameters(),
                                                 torch::optim::AdamOptions(o.learning_rate).weight_decay(o.weight_decay));
    } else if (o.optimizer == "adamw") {
      opt = std::make_unique<torch::optim::AdamW>(net->parameters(),
                                                  torch::optim::AdamWOptions(o.learning_rate).weight_decay(o.weight_decay));
    } else if (o.optimizer == "sgd") {
      opt = std::make_unique<torch::optim::SGD>(
          net->parameters(), torch::optim::SGDOptions(o.learning_rate).momentum(o.momentum).weight_decay(o.weight_decay));
    } else {
      return Status::BadRequest("with.optimizer is adam, adamw or sgd");
    }

    auto loss_of = [&](const torch::Tensor& out, const torch::Tensor& y) {
      if (o.classification) return torch::nn::functional::cross_entropy(out, y);
      return torch::mse_loss(out.squeeze(1), (y - y_mean) / y_std);
    };
    auto forward_rows = [&](bool is_train, const torch::Tensor& rows) {
      if (!text) return net->forward((is_train ? x_train : x_valid).index_select(0, rows));
      torch::Tensor offsets;
      torch::Tensor ids = (is_train ? bags_train : bags_valid).Rows(rows, offsets);
      return net->forward(ids, offsets);
    };

    TorchTrainResult result;
    for (const auto& p : net->parameters()) result.parameters += p.numel();
    result.summary = summary;
    std::vector<torch::Tensor> best_state;
    double best_metric = 0;
    auto generator = at::detail::createCPUGenerator(o.seed);
    const int64_t n = static_cast<int64_t>(train.rows);
    const int64_t batch = std::max(1, o.batch_size);
    for (int epoch = 1; epoch <= o.epochs; ++epoch) {
      auto start = std::chrono::steady_clock::now();
      net->train();
      torch::Tensor order = torch::randperm(n, generator, torch::kInt64);
      double loss_sum = 0;
      int64_t seen = 0;
      for (int64_t at = 0; at < n; at += batch) {
        torch::Tensor rows = order.slice(0, at, std::min(n, at + batch));
        opt->zero_grad();
        torch::Tensor loss = loss_of(forward_rows(true, rows), y_train.index_select(0, rows));
        loss.backward();
        opt->step();
        loss_sum += loss.item<double>() * rows.size(0);
        seen += rows.size(0);
      }
      TorchEpoch e;
      e.epoch = epoch;
      e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      e.examples_per_second = e.seconds > 0 ? n / e.seconds : 0;
      e.train_loss = loss_sum / std::max<int64_t>(1, seen);
      e.validation_loss = e.validation_metric = std::numeric_limits<double>::quiet_NaN();
      if (valid && valid->rows > 0) {
        torch::NoGradGuard no_grad;
        net->eval();
        const int64_t vn = static_cast<int64_t>(valid->rows);
        double vloss = 0, right = 0, sq = 0;
        for (int64_t at = 0; at < vn; at += 1024) {
          torch::Tensor rows = torch::arange(at, std::min(vn, at + 1024), torch::kInt64);
          torch::Tensor out = forward_rows(false, rows);
          torch::Tensor y = y_valid.index_select(0, rows);
          vloss += loss_of(out, y).item<double>() * rows.size(0);
          if (o.classification) {
            right += out.argmax(1).eq(y).sum().item<double>();
          } else {
            sq += (out.squeeze(1) * y_std + y_mean - y).pow(2).sum().item<double>();
          }
        }
        e.validation_loss = vloss / vn;
        e.validation_metric = o.classification ? right / vn : std::sqrt(sq / vn);
        bool better = result.best_epoch == 0 ||
                      (o.classification ? e.validation_metric > best_metric : e.validation_metric < best_metric);
        if (better) {
          best_metric = e.validation_metric;
          result.best_epoch = epoch;
          best_state.clear();
          for (const auto& p : net->parameters()) best_state.push_back(Detach(p));
        }
      } else {
        result.best_epoch = epoch;
      }
      result.epochs.push_back(e);
      if (on_epoch) AIMASS_RETURN_IF_ERROR(on_epoch(e));
      if (o.patience > 0 && valid && epoch - result.best_epoch >= o.patience) break;
    }
    if (!best_state.empty()) {
      torch::NoGradGuard no_grad;
      auto params = net->parameters();
      for (size_t i = 0; i < params.size(); ++i) params[i].copy_(best_state[i]);
    }
    net->eval();

    // Export: the trained tensors as the module's buffers, the forward pass as source.
    torch::jit::Module m("AimassModel");
    if (text) {
      m.register_buffer("embedding", Detach(net->embedding->weight));
      c10::List<std::string> punct;
      for (const char* p = kPunctuation; *p; ++p) punct.push_back(std::string(1, *p));
      m.register_attribute("punctuation", c10::ListType::ofStrings(), punct);
      c10::Dict<std::string, int64_t> dict;
      for (const auto& [term, id] : vocab) dict.insert(term, id);
      m.register_attribute("vocab", c10::DictType::create(c10::StringType::get(), c10::IntType::get()), dict);
    } else {
      m.register_buffer("mean", scaling.mean);
      m.register_buffer("std", scaling.std);
    }
    if (o.architecture == "cnn") {
      m.register_buffer("c1w", Detach(net->conv1->weight));
      m.register_buffer("c1b", Detach(net->conv1->bias));
      m.register_buffer("c2w", Detach(net->conv2->weight));
      m.register_buffer("c2b", Detach(net->conv2->bias));
    }
    for (size_t i = 0; i < net->dense.size(); ++i) {
      m.register_buffer("w" + std::to_string(i), Detach(net->dense[i]->weight));
      m.register_buffer("b" + std::to_string(i), Detach(net->dense[i]->bias));
    }
    if (!o.classification) {
      m.register_buffer("ymean", torch::tensor(static_cast<float>(y_mean)));
      m.register_buffer("ystd", torch::tensor(static_cast<float>(y_std)));
    }
    m.define(ExportSource(o, *net, scaling.missing));
    m.eval();
    std::ostringstream saved;
    m.save(saved);
    result.torchscript = saved.str();

    // The check: the saved module, loaded back, answers as the network does on sample rows.
    std::istringstream in(result.torchscript);
    torch::jit::Module loaded = torch::jit::load(in);
    torch::NoGradGuard no_grad;
    torch::Tensor rows = torch::arange(0, k, torch::kInt64);
    torch::Tensor expected = forward_rows(sample_is_train, rows);
    expected = o.classification ? torch::softmax(expected, 1) : expected * y_std + y_mean;
    c10::IValue got;
    if (text) {
      c10::List<std::string> texts;
      for (int64_t i = 0; i < k; ++i) texts.push_back(sample.texts[i]);
      got = loaded.forward({texts});
    } else {
      torch::Tensor raw = torch::from_blob(sample_x.data(), {k, static_cast<int64_t>(sample.features)}, torch::kFloat32);
      got = loaded.forward({raw});
    }
    double diff = (got.toTensor() - expected).abs().max().item<double>();
    if (!(diff < 1e-3)) {
      return Status::Internal("the exported TorchScript module answers differently from the trained network (by " +
                              std::to_string(diff) + ")");
    }
    result.input_datatype = text ? "BYTES" : "FP32";
    result.input_shape = text ? std::vector<int64_t>{-1} : std::vector<int64_t>{-1, static_cast<int64_t>(train.features)};
    result.output_shape = {-1, outputs};
    return result;
  } catch (const c10::Error& e) {
    return Status::Internal(std::string("LibTorch: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Status::Internal(std::string("LibTorch: ") + e.what());
  }
}

}  // namespace aimass::steps
