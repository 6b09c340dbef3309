// The language-model engine against a plain reference written here: a decoder forward pass
// in double precision over the whole sequence (no cache, no batching), on small random models.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <set>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>

#include "llm/engine.hpp"
#include "llm/kv_cache.hpp"
#include "llm/safetensors.hpp"
#include "llm/sampler.hpp"
#include "llm/transformer.hpp"
#include "llm/weights.hpp"

namespace aimass::llm {
namespace {

using Tensors = std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>;

ModelConfig SmallConfig(bool bias = false) {
  ModelConfig c;
  c.architecture = bias ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.vocab_size = 40;
  c.max_position_embeddings = 64;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000;
  c.attention_bias = bias;
  c.eos_token_ids = {2};
  return c;
}

Tensors RandomTensors(const ModelConfig& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 0.3f);
  Tensors t;
  for (const auto& [name, shape] : c.ExpectedTensors()) {
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    std::vector<float> v(static_cast<size_t>(count));
    const bool norm = name.find("norm") != std::string::npos;
    for (auto& x : v) x = norm ? 1.0f + 0.1f * n(rng) : n(rng);
    t[name] = {shape, std::move(v)};
  }
  return t;
}

// A temporary file holding `bytes`, removed with the object.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& bytes) {
    char name[] = "/tmp/llm_testXXXXXX";
    int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fd);
    path = name;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

std::unique_ptr<Weights> LoadWeights(const ModelConfig& c, const TempFile& f, bool int8 = false) {
  auto files = WeightFiles::Open({{"model.safetensors", f.path}});
  EXPECT_TRUE(files.ok()) << files.status().message();
  auto w = Weights::Load(c, std::move(*files), int8);
  EXPECT_TRUE(w.ok()) << w.status().message();
  return std::move(*w);
}

// The reference: logits after every position of `tokens`, in double.
std::vector<std::vector<double>> Reference(const ModelConfig& c, const Tensors& t, const std::vector<int>& tokens) {
  const int64_t H = c.hidden_size, hd = c.head_dim, nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  const int64_t n = static_cast<int64_t>(tokens.size());
  auto W = [&](const std::string& name) -> const std::vector<float>& { return t.at(name).second; };
  auto linear = [&](const std::string& name, const std::vector<double>& x, int64_t in, int64_t out, const std::string& bias) {
    std::vector<double> y(static_cast<size_t>(out));
    const auto& w = W(name);
    for (int64_t o = 0; o < out; ++o) {
      double s = bias.empty() ? 0.0 : W(bias)[o];
      for (int64_t i = 0; i < in; ++i) s += static_cast<double>(w[o * in + i]) * x[i];
      y[o] = s;
    }
    return y;
  };
  auto rms = [&](const std::vector<double>& x, const std::string& name) {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + c.rms_norm_eps);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * W(name)[i];
    return y;
  };
  auto rope = [&](std::vector<double>& v, int64_t heads, int64_t pos) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 0; i < hd / 2; ++i) {
        const double f = 1.0 / std::pow(c.rope_theta, 2.0 * i / hd), a = pos * f;
        double& x1 = v[h * hd + i];
        double& x2 = v[h * hd + i + hd / 2];
        const double p = x1, q = x2;
        x1 = p * std::cos(a) - q * std::sin(a);
        x2 = q * std::cos(a) + p * std::sin(a);
      }
    }
  };
  std::vector<std::vector<double>> x(static_cast<size_t>(n));
  for (int64_t p = 0; p < n; ++p) {
    x[p].resize(static_cast<size_t>(H));
    for (int64_t i = 0; i < H; ++i) x[p][i] = W("model.embed_tokens.weight")[tokens[p] * H + i];
  }
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    const std::string qb = c.attention_bias ? pre + "self_attn.q_proj.bias" : "";
    const std::string kb = c.attention_bias ? pre + "self_attn.k_proj.bias" : "";
    const std::string vb = c.attention_bias ? pre + "self_attn.v_proj.bias" : "";
    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (int64_t p = 0; p < n; ++p) {
      auto h = rms(x[p], pre + "input_layernorm.weight");
      q[p] = linear(pre + "self_attn.q_proj.weight", h, H, nh * hd, qb);
      k[p] = linear(pre + "self_attn.k_proj.weight", h, H, nkv * hd, kb);
      v[p] = linear(pre + "self_attn.v_proj.weight", h, H, nkv * hd, vb);
      rope(q[p], nh, p);
      rope(k[p], nkv, p);
    }
    for (int64_t p = 0; p < n; ++p) {
      std::vector<double> att(static_cast<size_t>(nh * hd), 0.0);
      for (int64_t h = 0; h < nh; ++h) {
        const int64_t g = h / (nh / nkv);
        std::vector<double> s(static_cast<size_t>(p + 1));
        double max = -1e300;
        for (int64_t j = 0; j <= p; ++j) {
          double d = 0;
          for (int64_t i = 0; i < hd; ++i) d += q[p][h * hd + i] * k[j][g * hd + i];
          s[j] = d / std::sqrt(static_cast<double>(hd));
          max = std::max(max, s[j]);
        }
        double sum = 0;
        for (auto& e : s) sum += (e = std::exp(e - max));
        for (int64_t j = 0; j <= p; ++j)
          for (int64_t i = 0; i < hd; ++i) att[h * hd + i] += s[j] / sum * v[j][g * hd + i];
      }
      auto o = linear(pre + "self_attn.o_proj.weight", att, nh * hd, H, "");
      for (int64_t i = 0; i < H; ++i) x[p][i] += o[i];
      auto h = rms(x[p], pre + "post_attention_layernorm.weight");
      auto gate = linear(pre + "mlp.gate_proj.weight", h, H, c.intermediate_size, "");
      auto up = linear(pre + "mlp.up_proj.weight", h, H, c.intermediate_size, "");
      for (int64_t i = 0; i < c.intermediate_size; ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
      auto d = linear(pre + "mlp.down_proj.weight", gate, c.intermediate_size, H, "");
      for (int64_t i = 0; i < H; ++i) x[p][i] += d[i];
    }
  }
  std::vector<std::vector<double>> logits;
  const std::string head = c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  for (int64_t p = 0; p < n; ++p) logits.push_back(linear(head, rms(x[p], "model.norm.weight"), H, c.vocab_size, ""));
  return logits;
}

TEST(SafeTensors, RoundTripAndDamage) {
  Tensors t = {{"a", {{2, 3}, {1, 2, 3, 4, 5, 6}}}, {"b", {{1}, {7}}}};
  std::string bytes = EncodeSafeTensors(t);
  TempFile f(bytes);
  auto file = SafeTensorsFile::Open(f.path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  const TensorView& a = (*file)->tensors().at("a");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.dtype, DType::kF32);
  EXPECT_EQ(reinterpret_cast<const float*>(a.data)[5], 6.0f);
  // A truncated file: the ranges fall outside it.
  TempFile cut(bytes.substr(0, bytes.size() - 4));
  EXPECT_EQ(SafeTensorsFile::Open(cut.path).status().code(), Code::kUnprocessable);
  // A header length past the end, and a header that is not JSON.
  std::string bad = bytes;
  bad[0] = '\x7f';
  bad[1] = '\x7f';
  TempFile long_header(bad);
  EXPECT_EQ(SafeTensorsFile::Open(long_header.path).status().code(), Code::kUnprocessable);
  std::string junk = bytes;
  junk[8] = '[';
  TempFile not_json(junk);
  EXPECT_EQ(SafeTensorsFile::Open(not_json.path).status().code(), Code::kUnprocessable);
  // A shape that disagrees with the bytes.
  std::string header = R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})";
  std::string wrong(8, '\0');
  wrong[0] = static_cast<char>(header.size());
  wrong += header + std::string(8, '\0');
  TempFile mismatch(wrong);
  auto m = SafeTensorsFile::Open(mismatch.path);
  EXPECT_EQ(m.status().code(), Code::kUnprocessable);
  EXPECT_NE(m.status().message().find("need 12"), std::string::npos) << m.status().message();
}

TEST(ModelConfig, ParsesAndChecksTensors) {
  auto c = ModelConfig::Parse(R"({"architectures":["MistralForCausalLM"],"hidden_size":32,"intermediate_size":48,
    "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":40,"rms_norm_eps":1e-5,
    "rope_theta":1000000.0,"max_position_embeddings":64,"tie_word_embeddings":true,"eos_token_id":[2,7]})");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->head_dim, 8);
  EXPECT_EQ(c->rope_theta, 1e6);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{2, 7}));
  EXPECT_FALSE(c->ExpectedTensors().count("lm_head.weight"));
  EXPECT_EQ(c->ExpectedTensors().at("model.layers.1.self_attn.k_proj.weight"), (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(ModelConfig::Parse(R"({"architectures":["GPT2LMHeadModel"]})").status().code(), Code::kUnprocessable);
  EXPECT_EQ(ModelConfig::Parse(R"({"architectures":["LlamaForCausalLM"],"hidden_size":32,"intermediate_size":48,
    "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":3,"vocab_size":40})").status().code(),
            Code::kUnprocessable);

  ModelConfig small = SmallConfig();
  Tensors t = RandomTensors(small, 1);
  std::map<std::string, TensorView> views;
  for (const auto& [name, v] : t) views[name] = TensorView{name, DType::kF32, "F32", v.first, nullptr, 0};
  EXPECT_TRUE(Weights::Check(small, views).ok());
  views["model.layers.1.mlp.up_proj.weight"].shape = {48, 31};
  auto wrong = Weights::Check(small, views);
  EXPECT_NE(wrong.message().find("has shape [48,31], the config implies [48,32]"), std::string::npos) << wrong.message();
  views["model.layers.1.mlp.up_proj.weight"].shape = {48, 32};
  views.erase("model.norm.weight");
  EXPECT_NE(Weights::Check(small, views).message().find("lack tensor 'model.norm.weight'"), std::string::npos);
}

// Two sequences through the paged cache in mixed batches (chunked prompts, then decodes)
// give the reference's logits at every step.
void CheckForward(bool bias, bool int8, double tolerance) {
  ModelConfig c = SmallConfig(bias);
  Tensors t = RandomTensors(c, 7);
  TempFile f(EncodeSafeTensors(t));
  auto w = LoadWeights(c, f, int8);
  KvCache cache(c.num_hidden_layers, c.num_key_value_heads, c.head_dim, 4, 1 << 20);
  WorkerPool pool(2);
  Transformer model(c, *w, cache, pool);
  std::vector<int> a = {1, 5, 9, 3, 22, 17, 8, 30, 4, 11, 6, 25, 13};  // 9 prompt + 4 decoded
  std::vector<int> b = {1, 33, 2, 19, 7, 7, 28};                      // 3 prompt + 4 decoded
  auto ref_a = Reference(c, t, a), ref_b = Reference(c, t, b);
  std::vector<int64_t> blocks_a, blocks_b;
  auto reserve = [&](std::vector<int64_t>& bl, int64_t positions) {
    while (static_cast<int64_t>(bl.size()) * 4 < positions) bl.push_back(cache.Allocate());
  };
  double worst = 0;
  auto compare = [&](const float* got, const std::vector<double>& want) {
    for (int64_t i = 0; i < c.vocab_size; ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
  };
  std::vector<float> logits;
  // Step 1: a's first 5 prompt tokens (no logits), b's whole prompt.
  reserve(blocks_a, 5), reserve(blocks_b, 3);
  model.Forward({{&blocks_a, 0, a.data(), 5, false}, {&blocks_b, 0, b.data(), 3, true}}, logits);
  ASSERT_EQ(logits.size(), static_cast<size_t>(c.vocab_size));
  compare(logits.data(), ref_b[2]);
  // Step 2: the rest of a's prompt, b's first decode.
  reserve(blocks_a, 9), reserve(blocks_b, 4);
  model.Forward({{&blocks_b, 3, b.data() + 3, 1, true}, {&blocks_a, 5, a.data() + 5, 4, true}}, logits);
  compare(logits.data(), ref_b[3]);
  compare(logits.data() + c.vocab_size, ref_a[8]);
  // Decodes together.
  for (int64_t step = 0; step < 3; ++step) {
    reserve(blocks_a, 10 + step), reserve(blocks_b, 5 + step);
    model.Forward({{&blocks_a, 9 + step, a.data() + 9 + step, 1, true}, {&blocks_b, 4 + step, b.data() + 4 + step, 1, true}},
                  logits);
    compare(logits.data(), ref_a[9 + step]);
    compare(logits.data() + c.vocab_size, ref_b[4 + step]);
  }
  EXPECT_LT(worst, tolerance) << "bias " << bias << " int8 " << int8;
  std::printf("largest logit difference from the reference (bias %d, int8 %d): %.3g\n", bias, int8, worst);
}

TEST(Transformer, MatchesReferenceThroughPagedCache) { CheckForward(false, false, 1e-4); }
TEST(Transformer, MatchesReferenceWithQkvBiases) { CheckForward(true, false, 1e-4); }
// int8 weights: close (a rounding of each weight to 1/254 of its row's range), not equal.
TEST(Transformer, Int8StaysCloseToReference) { CheckForward(false, true, 0.25); }

TEST(Sampler, GreedySeedsAndFilters) {
  std::vector<float> logits = {0.1f, 2.0f, 1.9f, -1.0f, 0.5f};
  std::unordered_map<int, int> none;
  SamplingParams greedy;
  greedy.temperature = 0;
  greedy.top_logprobs = 2;
  Sampler g(greedy);
  auto copy = logits;
  auto s = g.Next(copy.data(), 5, none, none);
  EXPECT_EQ(s.token, 1);
  ASSERT_EQ(s.top.size(), 2u);
  EXPECT_EQ(s.top[1].token, 2);
  double z = 0;
  for (float l : logits) z += std::exp(l);
  EXPECT_NEAR(s.logprob, 2.0 - std::log(z), 1e-5);
  // The repetition penalty turns the choice to the runner-up.
  SamplingParams rep = greedy;
  rep.repetition_penalty = 1.2;
  Sampler r(rep);
  copy = logits;
  EXPECT_EQ(r.Next(copy.data(), 5, {{1, 1}}, none).token, 2);
  // A seed repeats its draws; top_k 2 never leaves the two best.
  SamplingParams seeded;
  seeded.seed = 42;
  seeded.top_k = 2;
  Sampler s1(seeded), s2(seeded);
  std::set<int> drawn;
  for (int i = 0; i < 200; ++i) {
    auto c1 = logits, c2 = logits;
    const int t1 = s1.Next(c1.data(), 5, none, none).token;
    EXPECT_EQ(t1, s2.Next(c2.data(), 5, none, none).token);
    drawn.insert(t1);
  }
  EXPECT_EQ(drawn, (std::set<int>{1, 2}));
  // A tiny top_p keeps only the best.
  SamplingParams nucleus;
  nucleus.top_p = 0.01;
  Sampler n(nucleus);
  for (int i = 0; i < 20; ++i) {
    copy = logits;
    EXPECT_EQ(n.Next(copy.data(), 5, none, none).token, 1);
  }
  SamplingParams bad;
  bad.temperature = 3;
  EXPECT_EQ(bad.Validate().code(), Code::kBadRequest);
  bad = {};
  bad.top_p = 0;
  EXPECT_EQ(bad.Validate().code(), Code::kBadRequest);
}

// Characters as tokens: 0 <unk>, 1 <s>, 2 </s>, 3.. the letters and a few signs.
class CharTokenizer : public Tokenizer {
 public:
  static constexpr const char* kChars = "abcdefghijklmnopqrstuvwxyz .,!?";
  std::vector<int> Encode(std::string_view text) const override {
    std::vector<int> ids;
    for (char ch : text) {
      const char* p = std::strchr(kChars, ch);
      ids.push_back(p && ch ? static_cast<int>(p - kChars) + 3 : 0);
    }
    return ids;
  }
  std::string Decode(const std::vector<int>& ids) const override {
    std::string s;
    for (int id : ids) {
      if (id >= 3 && id < vocab_size()) s.push_back(kChars[id - 3]);
    }
    return s;
  }
  std::optional<int> PieceId(std::string_view) const override { return std::nullopt; }
  std::string Piece(int id) const override { return Decode({id}); }
  int vocab_size() const override { return 3 + static_cast<int>(std::strlen(kChars)); }
  int bos() const override { return 1; }
  int eos() const override { return 2; }
};

struct Collected {
  std::mutex mu;
  std::condition_variable cv;
  std::string text;
  std::vector<int> tokens;
  std::string finish;
  int updates = 0;
  void Add(GenerateUpdate&& u) {
    std::lock_guard lock(mu);
    text += u.text;
    for (const auto& t : u.tokens) tokens.push_back(t.token);
    ++updates;
    if (u.finish_reason) {
      finish = *u.finish_reason;
      cv.notify_all();
    }
  }
  void Wait() {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return !finish.empty(); }));
  }
};

struct EngineFixture {
  ModelConfig c = SmallConfig();
  Tensors t = RandomTensors(c, 3);
  TempFile f{EncodeSafeTensors(t)};
  std::unique_ptr<Engine> Make(int64_t kv_bytes, int max_seqs = 64) {
    EngineOptions o;
    o.threads = 2;
    o.kv_cache_bytes = kv_bytes;
    o.block_tokens = 4;
    o.max_seqs = max_seqs;
    o.max_batch_tokens = 16;
    c.eos_token_ids = {};  // random weights: run to max_tokens
    auto tok = std::make_unique<CharTokenizer>();
    auto chat = ChatTemplate::Named("plain", *tok);
    return Engine::Create(c, LoadWeights(c, f), std::move(tok), *chat, o);
  }
  static GenerateRequest Greedy(std::vector<int> prompt, int64_t max_tokens) {
    GenerateRequest r;
    r.prompt = std::move(prompt);
    r.sampling.temperature = 0;
    r.max_tokens = max_tokens;
    r.ignore_eos = true;
    return r;
  }
};

std::vector<int> Prompt(int i) {
  std::vector<int> p = {1};
  for (int j = 0; j < 3 + (i * 7) % 11; ++j) p.push_back(3 + (i * 5 + j * 3) % 30);
  return p;
}

TEST(Engine, ConcurrentSequencesEqualEachAlone) {
  EngineFixture fx;
  // Alone, each in an engine of its own.
  std::vector<std::vector<int>> alone;
  for (int i = 0; i < 8; ++i) {
    auto e = fx.Make(1 << 20);
    Collected out;
    ASSERT_TRUE(e->Submit(EngineFixture::Greedy(Prompt(i), 12), [&](GenerateUpdate&& u) { out.Add(std::move(u)); }).ok());
    out.Wait();
    EXPECT_EQ(out.finish, "length");
    EXPECT_EQ(out.tokens.size(), 12u);
    alone.push_back(out.tokens);
  }
  // Together, in a cache so small that sequences are preempted and recomputed.
  for (int64_t blocks : {int64_t{1} << 20, int64_t{0}}) {
    auto e = fx.Make(blocks == 0 ? 12 * 2 * 2 * 2 * 4 * 8 * 4 : blocks);  // 12 blocks of 4 tokens
    std::vector<std::unique_ptr<Collected>> outs;
    for (int i = 0; i < 8; ++i) {
      outs.push_back(std::make_unique<Collected>());
      Collected* o = outs.back().get();
      ASSERT_TRUE(e->Submit(EngineFixture::Greedy(Prompt(i), 12), [o](GenerateUpdate&& u) { o->Add(std::move(u)); }).ok());
    }
    for (int i = 0; i < 8; ++i) {
      outs[i]->Wait();
      EXPECT_EQ(outs[i]->tokens, alone[i]) << "sequence " << i << (blocks == 0 ? " (small cache)" : "");
    }
    if (blocks == 0) {
      EXPECT_GT(e->stats().preemptions, 0u);
    }
    EXPECT_EQ(e->stats().kv_blocks_used, 0);
  }
}

TEST(Engine, StopsCancelsAndRefusesTooLong) {
  EngineFixture fx;
  auto e = fx.Make(1 << 20);
  Collected full;
  ASSERT_TRUE(e->Submit(EngineFixture::Greedy(Prompt(1), 20), [&](GenerateUpdate&& u) { full.Add(std::move(u)); }).ok());
  full.Wait();
  ASSERT_GE(full.text.size(), 6u);
  // A stop sequence from the middle of that text: the answer ends before it.
  const std::string stop = full.text.substr(3, 2);
  auto req = EngineFixture::Greedy(Prompt(1), 20);
  req.stop = {stop};
  Collected stopped;
  ASSERT_TRUE(e->Submit(req, [&](GenerateUpdate&& u) { stopped.Add(std::move(u)); }).ok());
  stopped.Wait();
  EXPECT_EQ(stopped.finish, "stop");
  EXPECT_EQ(stopped.text, full.text.substr(0, full.text.find(stop)));
  // Too long for the context, with the limit named.
  auto too_long = EngineFixture::Greedy(std::vector<int>(60, 5), 10);
  auto refused = e->Submit(too_long, [](GenerateUpdate&&) {});
  EXPECT_EQ(refused.status().code(), Code::kBadRequest);
  EXPECT_NE(refused.status().message().find("maximum context length is 64 tokens"), std::string::npos);
  // A cancelled sequence gives its blocks back.
  auto endless = EngineFixture::Greedy(Prompt(2), 0);
  std::atomic<int> updates{0};
  std::atomic<bool> checked{false};
  // The third update holds the engine's thread until the test has looked and cancelled, so
  // that the sequence cannot run to its end first.
  auto id = e->Submit(endless, [&](GenerateUpdate&&) {
    if (updates.fetch_add(1) + 1 == 3) {
      while (!checked.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  ASSERT_TRUE(id.ok());
  while (updates.load() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_GT(e->stats().kv_blocks_used, 0);
  EXPECT_EQ(e->stats().running, 1);
  e->Cancel(*id);
  checked.store(true);
  for (int i = 0; i < 1000 && e->stats().kv_blocks_used > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(e->stats().kv_blocks_used, 0);
  EXPECT_EQ(e->stats().running, 0);
}

}  // namespace
}  // namespace aimass::llm

namespace aimass::llm {
namespace {

// The last reference to an engine may go from one of its own callbacks (a request whose answer
// held the runner): the engine's thread finishes its step and ends by itself.
TEST(Engine, DestroyedFromItsOwnCallback) {
  EngineFixture fx;
  std::unique_ptr<Engine> engine = fx.Make(1 << 20);
  std::mutex mu;
  std::condition_variable cv;
  bool gone = false;
  Engine* raw = engine.get();
  auto holder = std::make_shared<std::unique_ptr<Engine>>(std::move(engine));
  ASSERT_TRUE(raw->Submit(EngineFixture::Greedy(Prompt(3), 6), [holder, &mu, &cv, &gone](GenerateUpdate&& u) {
                    if (!u.finish_reason) return;
                    holder->reset();  // ~Engine on the engine's own thread
                    std::lock_guard lock(mu);
                    gone = true;
                    cv.notify_all();
                  }).ok());
  holder.reset();
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return gone; }));
}

}  // namespace
}  // namespace aimass::llm

namespace aimass::llm {
namespace {

// A byte-level BPE tokenizer.json written here: merges applied by rank within each word, the
// leading space of a word as GPT-2's "Ġ", special tokens skipped when decoding.
TEST(ByteLevelBpe, MergesByRankWithinWords) {
  const std::string json = R"({"model":{"type":"BPE","vocab":{"h":0,"e":1,"l":2,"o":3,"w":4,"r":5,"d":6,"Ġ":7,"he":8,
    "ll":9,"hell":10,"hello":11,"Ġw":12,"or":13,"Ġwor":14,"1":16,"2":17,"3":18,"4":19,"12":20,"!":21,"'s":22,"s":23},
    "merges":["h e","l l","he ll","hell o","Ġ w","o r","Ġw or",["1","2"],["'","s"]]},
    "added_tokens":[{"id":15,"content":"<|begin_of_text|>","special":true}]})";
  TempFile f(json);
  auto tok = LoadByteLevelBpe(f.path);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_EQ((*tok)->Encode("hello world"), (std::vector<int>{11, 14, 2, 6}));
  // Digits in runs of at most three; punctuation apart; a contraction on its own.
  EXPECT_EQ((*tok)->Encode("1234!"), (std::vector<int>{20, 18, 19, 21}));
  EXPECT_EQ((*tok)->Encode("he's"), (std::vector<int>{8, 22}));
  EXPECT_EQ((*tok)->bos(), 15);
  EXPECT_EQ((*tok)->PieceId("<|begin_of_text|>"), 15);
  EXPECT_EQ((*tok)->Decode({15, 11, 14, 2, 6}), "hello world");
  EXPECT_EQ((*tok)->vocab_size(), 24);
  TempFile bad(R"({"model":{"type":"Unigram","vocab":[]}})");
  EXPECT_EQ(LoadByteLevelBpe(bad.path).status().code(), Code::kUnprocessable);
}

}  // namespace
}  // namespace aimass::llm
