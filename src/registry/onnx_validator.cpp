// ONNX artifacts: the graph's declared inputs and outputs are read from the ModelProto with
// ONNX's own protobuf classes (names, element types, shapes; initializers are not inputs), and
// the network is loaded with OpenCV's dnn importer, the runtime serving will use.
#include <onnx/onnx_pb.h>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/dnn.hpp>

#include <fstream>
#include <set>

#include "registry/validator.hpp"

namespace aimass::registry {

namespace {

// ONNX TensorProto.DataType → Open Inference Protocol datatype; "" when there is none.
std::string DataType(int32_t t) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return "FP32";
    case onnx::TensorProto::DOUBLE: return "FP64";
    case onnx::TensorProto::FLOAT16: return "FP16";
    case onnx::TensorProto::INT8: return "INT8";
    case onnx::TensorProto::INT16: return "INT16";
    case onnx::TensorProto::INT32: return "INT32";
    case onnx::TensorProto::INT64: return "INT64";
    case onnx::TensorProto::UINT8: return "UINT8";
    case onnx::TensorProto::UINT16: return "UINT16";
    case onnx::TensorProto::UINT32: return "UINT32";
    case onnx::TensorProto::UINT64: return "UINT64";
    case onnx::TensorProto::BOOL: return "BOOL";
    case onnx::TensorProto::STRING: return "BYTES";
    default: return "";
  }
}

TensorSpec Spec(const onnx::ValueInfoProto& v) {
  TensorSpec s;
  s.name = v.name();
  if (v.type().has_tensor_type()) {
    const auto& tt = v.type().tensor_type();
    s.datatype = DataType(tt.elem_type());
    if (tt.has_shape()) {
      for (const auto& d : tt.shape().dim()) {
        // A named or missing dimension (dim_param, e.g. "batch") varies: -1.
        s.shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
      }
    }
  }
  return s;
}

class OnnxValidator : public ArtifactValidator {
 public:
  Result<Signature> Validate(const std::string& path) const override {
    onnx::ModelProto model;
    {
      std::ifstream in(path, std::ios::binary);
      if (!in || !model.ParseFromIstream(&in) || !model.has_graph()) {
        return Status::Unprocessable("not a loadable ONNX file: not an ONNX ModelProto");
      }
    }
    Signature sig;
    std::set<std::string> initializers;
    for (const auto& init : model.graph().initializer()) initializers.insert(init.name());
    for (const auto& in : model.graph().input()) {
      if (!initializers.count(in.name())) sig.inputs.push_back(Spec(in));
    }
    for (const auto& out : model.graph().output()) sig.outputs.push_back(Spec(out));
    try {
      cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
      cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
      if (net.empty()) return Status::Unprocessable("the ONNX file holds no network");
    } catch (const cv::Exception& e) {
      std::string what = e.err.empty() ? e.what() : e.err;
      return Status::Unprocessable("not a loadable ONNX file: " + ScrubPath(what, path).substr(0, 300));
    } catch (const std::exception& e) {
      return Status::Unprocessable("not a loadable ONNX file: " + ScrubPath(e.what(), path).substr(0, 300));
    }
    return sig;
  }
};

}  // namespace

std::unique_ptr<ArtifactValidator> MakeOnnxValidator() { return std::make_unique<OnnxValidator>(); }

}  // namespace aimass::registry
