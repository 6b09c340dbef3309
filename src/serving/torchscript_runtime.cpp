// TorchScript models on LibTorch. TorchScript records input names but not dtypes or shapes, so
// those come from the registry's declared signature when there is one. Outputs may be a
// tensor, a tuple or list of tensors, or a dict of name → tensor; they are named by the dict's
// keys, else by the declared outputs in order, else output__0, output__1, … (as Triton does).
#include <ATen/Parallel.h>
#include <torch/csrc/jit/runtime/jit_exception.h>
#include <torch/script.h>

#include <cstring>

#include "registry/validator.hpp"
#include "serving/runtime.hpp"

namespace aimass::serving {

namespace {

std::optional<c10::ScalarType> TorchType(DataType t) {
  switch (t) {
    case DataType::kBool: return torch::kBool;
    case DataType::kUint8: return torch::kUInt8;
    case DataType::kInt8: return torch::kInt8;
    case DataType::kInt16: return torch::kInt16;
    case DataType::kInt32: return torch::kInt32;
    case DataType::kInt64: return torch::kInt64;
    case DataType::kFp16: return torch::kFloat16;
    case DataType::kFp32: return torch::kFloat32;
    case DataType::kFp64: return torch::kFloat64;
    default: return std::nullopt;
  }
}

std::optional<DataType> FromTorch(c10::ScalarType t) {
  switch (t) {
    case torch::kBool: return DataType::kBool;
    case torch::kUInt8: return DataType::kUint8;
    case torch::kInt8: return DataType::kInt8;
    case torch::kInt16: return DataType::kInt16;
    case torch::kInt32: return DataType::kInt32;
    case torch::kInt64: return DataType::kInt64;
    case torch::kFloat16: return DataType::kFp16;
    case torch::kFloat32: return DataType::kFp32;
    case torch::kFloat64: return DataType::kFp64;
    default: return std::nullopt;
  }
}

std::string FirstLine(const std::string& s) { return s.substr(0, std::min(s.find('\n'), size_t{300})); }

std::string LastLine(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  size_t nl = s.rfind('\n');
  if (nl != std::string_view::npos) s.remove_prefix(nl + 1);
  return std::string(s.substr(0, 300));
}

class TorchScriptRuntime : public Runtime {
 public:
  TorchScriptRuntime(torch::jit::Module module, registry::Signature sig, std::string path, int threads)
      : module_(std::move(module)), sig_(std::move(sig)), path_(std::move(path)), threads_(threads) {}

  const registry::Signature& signature() const override { return sig_; }

  void BindThread() override {
    // With LibTorch's OpenMP backend the intra-op thread count is a per-thread setting, so each
    // executor can have its own.
    at::set_num_threads(threads_);
  }

  Result<std::vector<Tensor>> Run(const std::vector<Tensor>& inputs) override {
    try {
      c10::InferenceMode guard;
      std::vector<c10::IValue> args;
      args.reserve(inputs.size());
      for (const auto& in : inputs) {
        if (in.dtype == DataType::kBytes) {
          // A BYTES tensor is a List[str] (text models: train.torch's text classifier).
          AIMASS_ASSIGN_OR_RETURN(c10::List<std::string> texts, Strings(in));
          args.emplace_back(std::move(texts));
          continue;
        }
        auto type = TorchType(in.dtype);
        if (!type) {
          return Status::BadRequest("input '" + in.name + "': TorchScript models take no " +
                                    std::string(DataTypeName(in.dtype)) + " tensors");
        }
        // No copy: the tensor only lives for this call and is never written.
        args.emplace_back(torch::from_blob(const_cast<char*>(in.data.data()), in.shape,
                                           torch::TensorOptions().dtype(*type)));
      }
      c10::IValue out = module_.forward(std::move(args));
      std::vector<Tensor> result;
      if (out.isTensor()) {
        AIMASS_RETURN_IF_ERROR(Add(result, OutputName(0), out.toTensor()));
      } else if (out.isTuple() || out.isList()) {
        std::vector<c10::IValue> items;
        if (out.isTuple()) items = out.toTupleRef().elements().vec();
        else items = out.toListRef().vec();
        for (size_t i = 0; i < items.size(); ++i) {
          if (!items[i].isTensor()) return Status::Internal("the model returned a non-tensor output");
          AIMASS_RETURN_IF_ERROR(Add(result, OutputName(i), items[i].toTensor()));
        }
      } else if (out.isGenericDict()) {
        for (const auto& item : out.toGenericDict()) {
          if (!item.key().isString() || !item.value().isTensor()) {
            return Status::Internal("the model returned a dict that is not str → tensor");
          }
          AIMASS_RETURN_IF_ERROR(Add(result, item.key().toStringRef(), item.value().toTensor()));
        }
      } else {
        return Status::Internal("the model returned neither tensors nor a dict of tensors");
      }
      return result;
    } catch (const std::bad_alloc&) {
      return Status::Internal("the model ran out of memory");
    } catch (const torch::jit::JITException& e) {
      // The model's own `raise`: its author's verdict, a failure of the model (500, counted
      // against a canary), not a shape the caller got wrong.
      return Status::Internal("the model failed: " + registry::ScrubPath(LastLine(e.what()), path_));
    } catch (const c10::Error& e) {
      return Status::BadRequest("the model rejected the input: " +
                                registry::ScrubPath(LastLine(e.what_without_backtrace()), path_));
    } catch (const std::exception& e) {
      // An operator refused this input (a shape its layers cannot take, an index out of
      // range): the caller's to fix, as a signature check would have said. The interpreter
      // wraps the operator's error with a TorchScript traceback; the error itself
      // (`RuntimeError: mat1 and mat2 shapes cannot be multiplied …`) is its last line.
      return Status::BadRequest("the model rejected the input: " + registry::ScrubPath(LastLine(e.what()), path_));
    }
  }

 private:
  std::string OutputName(size_t i) const {
    if (i < sig_.outputs.size() && !sig_.outputs[i].name.empty()) return sig_.outputs[i].name;
    return "output__" + std::to_string(i);
  }

  // The elements of a BYTES tensor (its size already checked: 4-byte length, then the bytes).
  static Result<c10::List<std::string>> Strings(const Tensor& in) {
    if (in.shape.size() > 1) {
      return Status::BadRequest("input '" + in.name + "': a BYTES input of a TorchScript model is a list of strings, shape [n]");
    }
    c10::List<std::string> out;
    size_t off = 0;
    while (off + 4 <= in.data.size()) {
      uint32_t len = 0;
      std::memcpy(&len, in.data.data() + off, 4);
      out.push_back(in.data.substr(off + 4, len));
      off += 4 + len;
    }
    return out;
  }

  static Status Add(std::vector<Tensor>& out, std::string name, const at::Tensor& t) {
    at::Tensor c = t.to(torch::kCPU).contiguous();
    auto dtype = FromTorch(c.scalar_type());
    if (!dtype) return Status::Internal("output '" + name + "' has a type the protocol cannot carry");
    Tensor r;
    r.name = std::move(name);
    r.dtype = *dtype;
    r.shape.assign(c.sizes().begin(), c.sizes().end());
    r.data.assign(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
    out.push_back(std::move(r));
    return Status::Ok();
  }

  torch::jit::Module module_;
  registry::Signature sig_;
  std::string path_;
  int threads_;
};

// The module frozen (parameters and attributes folded into the graph as constants) and put
// through LibTorch's inference passes (conv-batchnorm folding, oneDNN convolutions with
// prepacked weights). LibTorch picks its own slow convolution for a batch of one small image;
// the prepacked oneDNN one is 4x faster there, and faster at every batch size measured (bench
// CNN, one thread: 3.6k -> 14.0k images/s at batch 1, 16k -> 54k at 16). A module these
// passes refuse (one that changes its own attributes in forward, say) is served as loaded.
torch::jit::Module Optimized(torch::jit::Module module) {
  try {
    torch::jit::Module frozen = torch::jit::freeze(module);
    return torch::jit::optimize_for_inference(frozen);
  } catch (const std::exception&) {
    return module;
  }
}

}  // namespace

Result<std::unique_ptr<Runtime>> LoadTorchScript(const std::string& path, const registry::Signature& declared,
                                                 const RuntimeOptions& options) {
  try {
    torch::jit::Module module = torch::jit::load(path, torch::kCPU);
    module.eval();
    auto method = module.find_method("forward");
    if (!method) return Status::Unprocessable("TorchScript module has no forward method");
    // Inputs in forward's order, with what the registry knows of each.
    registry::Signature sig;
    const auto& args = method->function().getSchema().arguments();
    for (size_t i = 1; i < args.size(); ++i) {
      registry::TensorSpec spec{args[i].name(), "", {}};
      for (const auto& d : declared.inputs) {
        if (d.name == spec.name || (args.size() == 2 && declared.inputs.size() == 1)) {
          spec.datatype = d.datatype;
          spec.shape = d.shape;
        }
      }
      sig.inputs.push_back(std::move(spec));
    }
    sig.outputs = declared.outputs;
    if (options.optimize) module = Optimized(std::move(module));
    return std::unique_ptr<Runtime>(
        std::make_unique<TorchScriptRuntime>(std::move(module), std::move(sig), path, options.threads));
  } catch (const std::exception& e) {
    return Status::Unprocessable("not a loadable TorchScript file: " +
                                 registry::ScrubPath(FirstLine(e.what()), path));
  }
}

}  // namespace aimass::serving
