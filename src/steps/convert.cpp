#include "steps/convert.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <iostream>
#include <random>

#include "common/file.hpp"
#include "common/spawn.hpp"
#include "common/text.hpp"
#include "steps/numeric_table.hpp"

namespace aimass::steps {

using nlohmann::json;

namespace {

// Run by /usr/bin/python3: load the TorchScript module, answer the samples (the reference),
// export to ONNX with a dynamic batch dimension.
constexpr const char* kExportScript = R"(
import sys, numpy as np, torch
src, sample, shape, opset, out, expected, in_name, out_name = sys.argv[1:9]
shape = [int(d) for d in shape.split(",")]
m = torch.jit.load(src)
m.eval()
x = torch.from_numpy(np.fromfile(sample, dtype=np.float32).reshape(shape))
with torch.no_grad():
    y = m(x)
if isinstance(y, (tuple, list)):
    y = y[0]
y.detach().numpy().astype(np.float32).tofile(expected)
torch.onnx.export(m, (x,), out, input_names=[in_name], output_names=[out_name],
                  dynamic_axes={in_name: {0: "batch"}, out_name: {0: "batch"}}, opset_version=int(opset))
print("exported to ONNX opset", opset, "output shape", list(y.shape), flush=True)
)";

Status RunPython(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/python3", "-c", kExportScript};
  argv.insert(argv.end(), args.begin(), args.end());
  const char* threads = std::getenv("OMP_NUM_THREADS");
  char cwd[4096];
  std::string home = getcwd(cwd, sizeof cwd) ? cwd : "/tmp";
  std::vector<std::string> env = {"PATH=/usr/bin:/bin", "HOME=" + home, "PYTHONDONTWRITEBYTECODE=1",
                                  std::string("OMP_NUM_THREADS=") + (threads ? threads : "1")};
  SpawnOptions o;
  o.output_fd = STDOUT_FILENO;
  std::cout << std::flush;
  AIMASS_ASSIGN_OR_RETURN(pid_t pid, Spawn(argv, env, o));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  return Status::Unprocessable("torch.onnx.export failed (its error is in the log above)");
}

}  // namespace

Status Convert(StepContext& ctx) {
  const json& in = ctx.inputs();
  AIMASS_ASSIGN_OR_RETURN(auto chosen, ctx.InputModel());
  const auto& [model, version] = chosen;
  if (model.empty() || version < 1) return Status::BadRequest("with.model and with.version name the TorchScript version to convert");
  if (InputString(in, "to", "onnx") != "onnx") return Status::BadRequest("with.to is onnx");
  AIMASS_ASSIGN_OR_RETURN(double opset, InputNumber(in, "opset", 13));
  AIMASS_ASSIGN_OR_RETURN(double rows_wanted, InputNumber(in, "rows", 64));
  AIMASS_ASSIGN_OR_RETURN(double tolerance, InputNumber(in, "tolerance", 1e-4));
  if (opset < 7 || opset > 17) return Status::BadRequest("with.opset is 7 to 17");
  if (rows_wanted < 1 || rows_wanted > 4096) return Status::BadRequest("with.rows is 1 to 4096");
  if (!(tolerance >= 0)) return Status::BadRequest("with.tolerance is not negative");
  const std::string target = InputString(in, "register_as", model);
  const std::string alias = InputString(in, "alias", "");

  const std::string base = "/api/v1/models/" + PercentEncode(model) + "/versions/" + std::to_string(version);
  AIMASS_ASSIGN_OR_RETURN(json source, ctx.Call(http::Method::kGet, base));
  if (source.value("framework", "") != "torchscript") {
    return Status::BadRequest(model + " version " + std::to_string(version) + " is " + source.value("framework", "?") +
                              ", not torchscript");
  }
  const json& sig = source["signature"];
  if (!sig.is_object() || !sig["inputs"].is_array() || sig["inputs"].size() != 1 ||
      sig["inputs"][0].value("datatype", "") != "FP32" || !sig["inputs"][0]["shape"].is_array() ||
      sig["inputs"][0]["shape"].size() < 2) {
    return Status::BadRequest("convert takes models with one FP32 input of shape [-1, …] in their signature (text "
                              "models, which take strings, have no ONNX form)");
  }
  const std::string in_name = sig["inputs"][0].value("name", "input");
  const std::string out_name =
      sig["outputs"].is_array() && !sig["outputs"].empty() ? sig["outputs"][0].value("name", "output") : "output";
  std::vector<int64_t> row_shape;
  int64_t width = 1;
  for (size_t i = 1; i < sig["inputs"][0]["shape"].size(); ++i) {
    int64_t d = sig["inputs"][0]["shape"][i].get<int64_t>();
    if (d < 1) return Status::BadRequest("the input's dimensions after the first are fixed sizes");
    row_shape.push_back(d);
    width *= d;
  }

  // The samples: rows of a dataset, or uniform random values.
  std::vector<float> x;
  size_t n = static_cast<size_t>(rows_wanted);
  if (in.contains("samples") && !in["samples"].is_null()) {
    AIMASS_ASSIGN_OR_RETURN(auto ref, InputDataset(in, "samples"));
    AIMASS_ASSIGN_OR_RETURN(StepContext::Table t, ctx.DownloadTable(ref.first, ref.second));
    AIMASS_ASSIGN_OR_RETURN(std::vector<std::string> features, InputStrings(in, "features"));
    AIMASS_ASSIGN_OR_RETURN(NumericTable table, ReadNumericTable(t.csv, InputString(in, "label", ""), features));
    if (static_cast<int64_t>(table.features.size()) != width) {
      return Status::BadRequest("the samples have " + std::to_string(table.features.size()) + " feature columns; the model takes " +
                                std::to_string(width) + " values a row (name with.label or with.features)");
    }
    n = std::min(n, table.rows);
    x.assign(table.x.begin(), table.x.begin() + static_cast<ptrdiff_t>(n * static_cast<size_t>(width)));
    for (float& v : x) {
      if (std::isnan(v)) v = 0;
    }
  } else {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(0, 1);
    x.resize(n * static_cast<size_t>(width));
    for (float& v : x) v = u(rng);
  }

  // Export, with the TorchScript module's answers as the reference.
  AIMASS_ASSIGN_OR_RETURN(http::ClientResponse artifact, ctx.Send(http::Method::kGet, base + "/artifact", "", {}));
  if (artifact.status != 200) return Status::NotFound("the artifact of " + model + " version " + std::to_string(version));
  AIMASS_RETURN_IF_ERROR(WriteFileAtomically("model.pt", artifact.body, 0600));
  AIMASS_RETURN_IF_ERROR(WriteFileAtomically("samples.f32", std::string(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(float)), 0600));
  std::string shape = std::to_string(n);
  for (int64_t d : row_shape) shape += "," + std::to_string(d);
  std::cout << "exporting " << model << " version " << version << " to ONNX (opset " << static_cast<int>(opset) << "), "
            << n << " sample rows\n";
  AIMASS_RETURN_IF_ERROR(RunPython({"model.pt", "samples.f32", shape, std::to_string(static_cast<int>(opset)), "model.onnx",
                                    "expected.f32", in_name, out_name}));
  AIMASS_ASSIGN_OR_RETURN(std::string expected_bytes, ReadFile("expected.f32"));
  std::vector<float> expected(expected_bytes.size() / sizeof(float));
  std::memcpy(expected.data(), expected_bytes.data(), expected.size() * sizeof(float));

  // Register the ONNX version, with the source's signature, metrics and lineage.
  json lineage = source["lineage"].is_object() ? source["lineage"] : json::object();
  lineage["converted_from"] = {{"model", model}, {"version", version}};
  lineage["pipeline"] = ctx.pipeline();
  lineage["pipeline_run"] = ctx.run();
  lineage["step"] = ctx.step();
  json onnx_sig = sig;
  onnx_sig["inputs"][0]["shape"][0] = -1;
  json meta = {{"signature", onnx_sig}, {"lineage", lineage}};
  if (source["metrics"].is_object()) meta["metrics"] = source["metrics"];
  if (source["params"].is_object()) meta["params"] = source["params"];
  if (!source.value("task", "").empty()) {
    json create = {{"name", target}, {"task", source["task"]}};
    auto made = ctx.Call(http::Method::kPost, "/api/v1/models", &create);
    if (!made.ok() && made.status().code() != Code::kConflict) return made.status();
  }
  AIMASS_ASSIGN_OR_RETURN(std::string onnx_bytes, ReadFile("model.onnx"));
  AIMASS_ASSIGN_OR_RETURN(http::ClientResponse pushed,
                          ctx.Send(http::Method::kPost, "/api/v1/models/" + PercentEncode(target) + "/versions?framework=onnx",
                                   std::move(onnx_bytes),
                                   {{"Content-Type", "application/octet-stream"}, {"X-Model-Metadata", meta.dump()}}));
  json v = json::parse(pushed.body, nullptr, false);
  if (pushed.status != 201 || !v.is_object()) {
    std::string why = v.is_object() && v.contains("error") ? v["error"].value("message", "") : pushed.body.substr(0, 200);
    return Status::Unprocessable("the ONNX model was refused by the registry: " + why);
  }
  const int64_t onnx_version = v["version"].get<int64_t>();
  const std::string onnx_base = "/api/v1/models/" + PercentEncode(target) + "/versions/" + std::to_string(onnx_version);

  // The check: the new version as served answers the samples as the TorchScript module did.
  const std::string deployment = ctx.ScratchDeployment("convert", onnx_version);
  auto check = [&]() -> Result<double> {
    json body = {{"name", deployment}, {"model", target}, {"version", onnx_version}};
    AIMASS_RETURN_IF_ERROR(ctx.Call(http::Method::kPost, "/api/v1/deployments", &body).status());
    json shape_json = json::array({n});
    for (int64_t d : row_shape) shape_json.push_back(d);
    json req = {{"inputs", json::array({{{"name", in_name}, {"shape", shape_json}, {"datatype", "FP32"}, {"data", x}}})}};
    AIMASS_ASSIGN_OR_RETURN(json answer, ctx.Call(http::Method::kPost, "/v2/models/" + PercentEncode(deployment) + "/infer", &req));
    const json& data = answer["outputs"][0]["data"];
    if (data.size() != expected.size()) {
      return Status::Unprocessable("the ONNX model answered " + std::to_string(data.size()) + " values, TorchScript " +
                                   std::to_string(expected.size()));
    }
    double worst = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      double got = data[i].get<double>(), want = expected[i];
      double diff = std::fabs(got - want);
      worst = std::max(worst, diff);
      if (!(diff <= tolerance * (1 + std::fabs(want)))) {
        return Status::Unprocessable("the ONNX model answers " + std::to_string(got) + " where TorchScript answers " +
                                     std::to_string(want) + " (value " + std::to_string(i) + "; with.tolerance " +
                                     std::to_string(tolerance) + ")");
      }
    }
    return worst;
  };
  auto checked = check();
  (void)ctx.Send(http::Method::kDelete, "/api/v1/deployments/" + PercentEncode(deployment), "", {});
  if (!checked.ok()) {
    (void)ctx.Send(http::Method::kDelete, onnx_base, "", {});
    return checked.status();
  }
  std::cout << "registered " << target << " version " << onnx_version << " (onnx); on " << n
            << " samples it answers as the TorchScript module within " << *checked << "\n" << std::flush;
  if (!alias.empty()) {
    json move = {{"version", onnx_version}};
    AIMASS_RETURN_IF_ERROR(
        ctx.Call(http::Method::kPut, "/api/v1/models/" + PercentEncode(target) + "/aliases/" + PercentEncode(alias), &move).status());
  }
  ctx.Output("model", target);
  ctx.Output("version", onnx_version);
  ctx.Output("framework", "onnx");
  ctx.Output("source", {{"model", model}, {"version", version}});
  ctx.Output("max_abs_diff", *checked);
  ctx.Output("rows", n);
  return Status::Ok();
}

}  // namespace aimass::steps
