// ONNX artifacts, loaded with OpenCV's dnn importer (the runtime serving will use). The
// importer does not expose the graph's declared inputs, so no signature is inferred here.
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/dnn.hpp>

#include "registry/validator.hpp"

namespace aimass::registry {

namespace {

class OnnxValidator : public ArtifactValidator {
 public:
  Result<Signature> Validate(const std::string& path) const override {
    try {
      cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
      cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
      if (net.empty()) return Status::Unprocessable("the ONNX file holds no network");
      return Signature{};
    } catch (const cv::Exception& e) {
      std::string what = e.err.empty() ? e.what() : e.err;
      return Status::Unprocessable("not a loadable ONNX file: " + ScrubPath(what, path).substr(0, 300));
    } catch (const std::exception& e) {
      return Status::Unprocessable("not a loadable ONNX file: " + ScrubPath(e.what(), path).substr(0, 300));
    }
  }
};

}  // namespace

std::unique_ptr<ArtifactValidator> MakeOnnxValidator() { return std::make_unique<OnnxValidator>(); }

}  // namespace aimass::registry
