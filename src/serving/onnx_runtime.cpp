// ONNX models on OpenCV's dnn module. The signature (names, dtypes, shapes) comes from the
// registry, which read it from the ModelProto at upload. OpenCV 4.6 computes in FP32 and takes
// FP32 (or INT32) inputs; its thread pool is process-wide, so `threads` is not applied here
// (see docs/serving.md).
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/dnn.hpp>

#include "registry/validator.hpp"
#include "serving/runtime.hpp"

namespace aimass::serving {

namespace {

class OnnxRuntime : public Runtime {
 public:
  OnnxRuntime(cv::dnn::Net net, registry::Signature sig, std::string path)
      : net_(std::move(net)), sig_(std::move(sig)), path_(std::move(path)) {
    for (const auto& o : sig_.outputs) out_names_.push_back(o.name);
  }

  const registry::Signature& signature() const override { return sig_; }

  Result<std::vector<Tensor>> Run(const std::vector<Tensor>& inputs) override {
    try {
      for (const auto& in : inputs) {
        int type = in.dtype == DataType::kFp32 ? CV_32F : in.dtype == DataType::kInt32 ? CV_32S : -1;
        if (type < 0) {
          return Status::BadRequest("input '" + in.name + "': the ONNX runtime takes FP32 or INT32, not " +
                                    std::string(DataTypeName(in.dtype)));
        }
        std::vector<int> dims(in.shape.begin(), in.shape.end());
        // No copy: the Mat wraps the request's bytes for the duration of the call.
        cv::Mat blob(static_cast<int>(dims.size()), dims.data(), type, const_cast<char*>(in.data.data()));
        net_.setInput(blob, in.name);
      }
      std::vector<cv::Mat> outs;
      net_.forward(outs, out_names_);
      std::vector<Tensor> result;
      for (size_t i = 0; i < outs.size(); ++i) {
        cv::Mat m = outs[i].isContinuous() ? outs[i] : outs[i].clone();
        Tensor t;
        t.name = i < out_names_.size() ? out_names_[i] : "output__" + std::to_string(i);
        if (m.depth() == CV_32F) t.dtype = DataType::kFp32;
        else if (m.depth() == CV_32S) t.dtype = DataType::kInt32;
        else return Status::Internal("output '" + t.name + "' has a type the runtime cannot return");
        for (int d = 0; d < m.dims; ++d) t.shape.push_back(m.size[d]);
        t.data.assign(reinterpret_cast<const char*>(m.data), m.total() * m.elemSize());
        result.push_back(std::move(t));
      }
      return result;
    } catch (const cv::Exception& e) {
      std::string what = e.err.empty() ? e.what() : e.err;
      return Status::Internal("the model failed: " + registry::ScrubPath(what, path_).substr(0, 300));
    } catch (const std::exception& e) {
      return Status::Internal("the model failed: " + registry::ScrubPath(e.what(), path_).substr(0, 300));
    }
  }

 private:
  cv::dnn::Net net_;
  registry::Signature sig_;
  std::string path_;
  std::vector<std::string> out_names_;
};

}  // namespace

Result<std::unique_ptr<Runtime>> LoadOnnx(const std::string& path, const registry::Signature& declared,
                                          const RuntimeOptions&) {
  if (declared.inputs.empty() || declared.outputs.empty()) {
    return Status::Unprocessable("the version has no ONNX signature to serve it by");
  }
  for (const auto& in : declared.inputs) {
    if (in.datatype != "FP32" && in.datatype != "INT32") {
      return Status::Unprocessable("input '" + in.name + "' is " + in.datatype +
                                   ": the ONNX runtime (OpenCV dnn) serves FP32 and INT32 inputs");
    }
  }
  try {
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
    if (net.empty()) return Status::Unprocessable("the ONNX file holds no network");
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    registry::Signature sig = declared;
    // OpenCV reports every output as FP32 whatever the graph declares.
    for (auto& o : sig.outputs) {
      if (o.datatype != "INT32") o.datatype = "FP32";
    }
    return std::unique_ptr<Runtime>(std::make_unique<OnnxRuntime>(std::move(net), std::move(sig), path));
  } catch (const cv::Exception& e) {
    std::string what = e.err.empty() ? e.what() : e.err;
    return Status::Unprocessable("not a loadable ONNX file: " + registry::ScrubPath(what, path).substr(0, 300));
  }
}

}  // namespace aimass::serving
