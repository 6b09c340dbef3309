#include "steps/steps.hpp"

#include <functional>
#include <iostream>
#include <map>
#include <string>

#include "steps/compare.hpp"
#include "steps/convert.hpp"
#include "steps/dataset_split.hpp"
#include "steps/deploy.hpp"
#include "steps/evaluate.hpp"
#include "steps/register.hpp"
#include "steps/train_assist.hpp"
#include "steps/train_fasttext.hpp"
#include "steps/train_recommend.hpp"
#include "steps/train_torch.hpp"
#include "steps/train_xgboost.hpp"
#include "steps/step.hpp"

namespace aimass::steps {

int RunStep(std::string_view uses) {
  static const std::map<std::string, std::function<Status(StepContext&)>, std::less<>> kSteps = {
      {"dataset.split", DatasetSplit},
      {"train.xgboost", TrainXgboost},
      {"train.torch", TrainTorch},
      {"train.fasttext", TrainFastText},
      {"train.assist", TrainAssist},
      {"train.recommend", TrainRecommend},
      {"evaluate.recommend", EvaluateRecommend},
      {"register", Register},
      {"compare", Compare},
      {"deploy", Deploy},
      {"evaluate", Evaluate},
      {"convert", Convert},
  };
  auto it = kSteps.find(uses);
  if (it == kSteps.end()) {
    std::cerr << "error: '" << uses << "' is not a built-in step of this aimass (it has:";
    for (const auto& [name, fn] : kSteps) std::cerr << " " << name;
    std::cerr << ")\n";
    return 2;
  }
  auto ctx = StepContext::FromEnvironment();
  if (!ctx.ok()) {
    std::cerr << "error: " << ctx.status().message() << "\n";
    return 1;
  }
  Status st = it->second(*ctx);
  if (!st.ok()) {
    std::cerr << "error: " << uses << ": " << st.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace aimass::steps
