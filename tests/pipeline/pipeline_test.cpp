// The pipeline module's parts that need no cluster: specs (JSON and YAML, their checks and
// order), expressions and templates, and outputs read from a step's log.
#include <gtest/gtest.h>

#include <set>

#include "pipeline/expression.hpp"
#include "pipeline/pipelines.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/tuning.hpp"

namespace aimass::pipeline {
namespace {

using nlohmann::json;

TEST(SpecTest, YamlAndJsonReadTheSameAndStepsComeInNeedsOrder) {
  const char* yaml = R"(
name: fashion
params: {epochs: 3, lr: 0.01, name: "007"}
schedule: "0 3 * * *"
steps:
  - name: train
    uses: train.torch
    needs: [split]
    with: {epochs: "${{ params.epochs }}", data: "${{ steps.split.outputs.train }}"}
    retries: 1
  - name: split
    uses: dataset.split
    with: {dataset: fmnist, test_fraction: 0.2}
  - name: note
    command: [echo, done]
)";
  auto from_yaml = ParsePipelineSpec(yaml);
  ASSERT_TRUE(from_yaml.ok()) << from_yaml.status().ToString();
  EXPECT_EQ(from_yaml->params, json::parse(R"({"epochs": 3, "lr": 0.01, "name": "007"})"));
  ASSERT_EQ(from_yaml->steps.size(), 3u);
  EXPECT_EQ(from_yaml->steps[0].name, "split");  // the first ready one, in the written order
  EXPECT_EQ(from_yaml->steps[1].name, "train");
  EXPECT_EQ(from_yaml->steps[2].name, "note");
  EXPECT_EQ(from_yaml->steps[1].retries, 1);
  auto from_json = ParsePipelineSpec(PipelineSpecJson(*from_yaml).dump());
  ASSERT_TRUE(from_json.ok()) << from_json.status().ToString();
  EXPECT_EQ(PipelineSpecJson(*from_json), PipelineSpecJson(*from_yaml));
}

TEST(SpecTest, RefusalsNameWhatIsWrong) {
  struct Case {
    const char* spec;
    const char* words;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"name":"p","steps":[{"name":"a","command":["x"],"needs":["b"]},{"name":"b","command":["x"],"needs":["a"]}]})", "cycle"},
           {R"({"name":"p","steps":[{"name":"a","command":["x"],"needs":["a"]}]})", "needs itself"},
           {R"({"name":"p","steps":[{"name":"a","command":["x"]},{"name":"b","command":["${{ steps.a.outputs.v }}"]}]})", "does not need it"},
           {R"({"name":"p","steps":[{"name":"a","command":["x"]},{"name":"b","command":["x"],"when":"steps.a.outputs.ok"}]})", "does not need it"},
           {R"({"name":"p","steps":[{"name":"a","command":["x"],"foreach":[]}]})", "foreach"},
           {R"({"name":"p","steps":[{"name":"a","command":["x"],"executor":"k8s"}]})", "executor"},
           {R"({"name":"p","steps":[{"name":"a","command":["x"],"timeout_s":0}]})", "timeout_s"},
           {R"({"name":"p","steps":[{"name":"a","command":"echo hi"}]})", "argv"},
           {R"({"name":"p","steps":[{"name":"a","command":["x"],"with":[1]}]})", "'with' is an object"},
           {R"({"name":"p","params":[1],"steps":[{"name":"a","command":["x"]}]})", "params"},
           {R"({"name":"p","steps":[{"name":"A","command":["x"]}]})", "step name"},
           {"steps: [unclosed", "YAML"},
       }) {
    auto r = ParsePipelineSpec(c.spec);
    ASSERT_FALSE(r.ok()) << c.spec;
    EXPECT_NE(r.status().message().find(c.words), std::string::npos) << r.status().message();
  }
}

TEST(ExpressionTest, ReferencesOperatorsAndCoercion) {
  json ctx = {{"params", {{"lr", 0.1}, {"flag", true}, {"name", "cnn"}, {"list", {1, 2, 3}}}},
              {"steps", {{"cmp", {{"outputs", {{"better", "true"}, {"acc", "0.93"}}}}}}},
              {"item", {{"lr", 0.5}}}};
  auto ev = [&](const char* e) {
    auto r = Evaluate(e, ctx);
    EXPECT_TRUE(r.ok()) << e << ": " << r.status().ToString();
    return r.ok() ? *r : json();
  };
  EXPECT_EQ(ev("params.lr"), 0.1);
  EXPECT_EQ(ev("params.list[2]"), 3);
  EXPECT_EQ(ev("item.lr > params.lr"), true);
  EXPECT_EQ(ev("steps.cmp.outputs.better == true"), true);  // text from a log against a boolean
  EXPECT_EQ(ev("steps.cmp.outputs.acc >= 0.9 and not params.flag == false"), true);
  EXPECT_EQ(ev("params.name == 'cnn' && (params.lr < 0.01 || params.flag)"), true);
  EXPECT_EQ(ev("!params.flag"), false);
  EXPECT_EQ(ev("-1.5"), -1.5);
  for (const char* bad : {"params.nothing", "steps.cmp.outputs.better ==", "(params.lr", "params.list[9]", "x + 1",
                          "'open", "params.", "nope == 1"}) {
    EXPECT_FALSE(Evaluate(bad, ctx).ok()) << bad;
  }
  EXPECT_FALSE(Truthy(json("false")));
  EXPECT_FALSE(Truthy(json(0)));
  EXPECT_TRUE(Truthy(json::array()));
}

TEST(ExpressionTest, TemplatesKeepTypesAloneAndWriteTextInside) {
  json ctx = {{"params", {{"epochs", 3}, {"lrs", {0.1, 0.01}}, {"name", "cnn"}}}, {"run", {{"id", 7}}}};
  auto r = Render(json::parse(R"({"epochs": "${{ params.epochs }}", "lrs": " ${{ params.lrs }} ",
                                 "tag": "${{ params.name }}-r${{ run.id }}", "argv": ["--epochs=${{ params.epochs }}"], "n": 5})"),
                  ctx);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["epochs"], 3);
  EXPECT_EQ((*r)["lrs"], json::parse("[0.1, 0.01]"));
  EXPECT_EQ((*r)["tag"], "cnn-r7");
  EXPECT_EQ((*r)["argv"][0], "--epochs=3");
  EXPECT_EQ((*r)["n"], 5);
  EXPECT_FALSE(Render(json("${{ params.epochs"), ctx).ok());
  EXPECT_FALSE(Render(json("${{ params.none }}"), ctx).ok());
  EXPECT_EQ(StepReferences(json::parse(R"(["${{ steps.a.outputs.x }} ${{ steps.b-2.outputs }}", "steps.c"])")),
            (std::set<std::string>{"a", "b-2"}));
  EXPECT_EQ(StepReferences(json("steps.c.outputs.ok and mysteps.d"), true), (std::set<std::string>{"c"}));
}

TEST(OutputsTest, LinesFromTheLogLastOneWins) {
  json out = ParseOutputs("noise\n::aimass-output acc=0.93\n::aimass-output model={\"name\":\"m\",\"version\":2}\r\n"
                          "::aimass-output acc=0.95\n::aimass-output note=hello world\n::aimass-output Bad=1\n"
                          "  ::aimass-output indented=1\n::aimass-output =nothing\n");
  EXPECT_EQ(out, json::parse(R"({"acc": 0.95, "model": {"name": "m", "version": 2}, "note": "hello world"})"));
}

}  // namespace
}  // namespace aimass::pipeline

namespace aimass::pipeline {
namespace {

TEST(TuneTest, GridIsTheProductAndRandomIsSeededWithinRanges) {
  auto grid = ParseTuneSpec(nlohmann::json::parse(R"({"uses":"train.xgboost","with":{"label":"y"},
      "space":{"eta":[0.1,0.3],"max_depth":[3,4,6]},"metric":"metrics.accuracy"})"));
  ASSERT_TRUE(grid.ok()) << grid.status().message();
  EXPECT_TRUE(grid->maximize);
  auto first = FirstRound(*grid);
  ASSERT_EQ(first.size(), 6u);
  EXPECT_EQ(first[0], nlohmann::json::parse(R"({"eta":0.1,"max_depth":3})"));
  EXPECT_EQ(first[5], nlohmann::json::parse(R"({"eta":0.3,"max_depth":6})"));
  EXPECT_TRUE(NextRound(*grid, {}).empty());

  auto random = ParseTuneSpec(nlohmann::json::parse(R"({"uses":"train.torch","method":"random","trials":20,"seed":3,
      "space":{"learning_rate":{"min":1e-4,"max":1e-1,"log":true},"batch_size":{"min":16,"max":256,"integer":true},
      "optimizer":["adam","sgd"]},"metric":"metrics.validation_loss"})"));
  ASSERT_TRUE(random.ok()) << random.status().message();
  EXPECT_FALSE(random->maximize);  // a loss: lower is better
  auto a = FirstRound(*random), b = FirstRound(*random);
  ASSERT_EQ(a.size(), 20u);
  EXPECT_EQ(a, b);
  std::set<std::string> optimizers;
  for (const auto& p : a) {
    EXPECT_GE(p["learning_rate"].get<double>(), 1e-4);
    EXPECT_LE(p["learning_rate"].get<double>(), 1e-1);
    EXPECT_TRUE(p["batch_size"].is_number_integer());
    optimizers.insert(p["optimizer"].get<std::string>());
  }
  EXPECT_EQ(optimizers.size(), 2u);
}

TEST(TuneTest, SuccessiveHalvingKeepsTheBestThirdAtThreeTimesTheBudget) {
  auto s = ParseTuneSpec(nlohmann::json::parse(R"({"uses":"train.torch","method":"halving","trials":9,
      "space":{"lr":{"min":0.001,"max":0.1}},"metric":"metrics.accuracy","budget":{"input":"epochs","min":1,"max":9,"eta":3}})"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  auto first = FirstRound(*s);
  ASSERT_EQ(first.size(), 9u);
  std::vector<Trial> trials;
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i]["epochs"], 1);
    Trial t{first[i], 0, i != 4, static_cast<double>(i) / 10};  // trial 4 failed
    if (i == 7) t.score.reset();                                 // 7 logged no score
    trials.push_back(t);
  }
  auto second = NextRound(*s, trials);
  ASSERT_EQ(second.size(), 3u);  // 9 / 3, the best scores: 8, 6, 5
  EXPECT_EQ(second[0]["lr"], first[8]["lr"]);
  EXPECT_EQ(second[1]["lr"], first[6]["lr"]);
  EXPECT_EQ(second[2]["lr"], first[5]["lr"]);
  EXPECT_EQ(second[0]["epochs"], 3);
  for (size_t i = 0; i < second.size(); ++i) trials.push_back(Trial{second[i], 1, true, 0.5 + (i == 1 ? 0.3 : 0.0)});
  auto third = NextRound(*s, trials);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0]["lr"], first[6]["lr"]);
  EXPECT_EQ(third[0]["epochs"], 9);
  trials.push_back(Trial{third[0], 2, true, 0.7});
  EXPECT_TRUE(NextRound(*s, trials).empty());  // the budget is spent
  // The best is the last round's, even where an earlier, shorter trial scored higher.
  EXPECT_EQ(BestTrial(*s, trials), trials.size() - 1);
}

TEST(TuneTest, ScoresAndRefusals) {
  auto out = nlohmann::json::parse(R"({"metrics":{"accuracy":0.9,"name":"x"},"run":3})");
  EXPECT_EQ(ScoreAt(out, "metrics.accuracy"), 0.9);
  EXPECT_EQ(ScoreAt(out, "run"), 3);
  EXPECT_FALSE(ScoreAt(out, "metrics.name"));
  EXPECT_FALSE(ScoreAt(out, "metrics.f1"));
  for (const char* bad : {
           R"({"uses":"command","space":{"a":[1]},"metric":"m"})",
           R"({"uses":"tune","space":{"a":[1]},"metric":"m"})",
           R"({"uses":"train.torch","space":{"a":{"min":0,"max":1}},"metric":"m"})",  // grid takes lists
           R"({"uses":"train.torch","space":{"a":[1]}})",
           R"({"uses":"train.torch","method":"halving","space":{"a":[1]},"metric":"m"})",
           R"({"uses":"train.torch","method":"random","space":{"a":{"min":0,"max":1,"log":true}},"metric":"m"})",
           R"({"uses":"train.torch","space":{"a":[1]},"metric":"m","extra":1})",
       }) {
    EXPECT_EQ(ParseTuneSpec(nlohmann::json::parse(bad)).status().code(), Code::kBadRequest) << bad;
  }
  // A whole pipeline with a tune step is checked at creation.
  EXPECT_EQ(ParsePipelineSpec(R"({"name":"p","steps":[{"name":"t","uses":"tune","with":{"uses":"train.torch"}}]})")
                .status()
                .code(),
            Code::kBadRequest);
}

}  // namespace
}  // namespace aimass::pipeline
