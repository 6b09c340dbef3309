#include "datasets/files.hpp"


namespace aimass::datasets {

Schema FilesSchema() {
  return {{"path", ColumnType::kString, false},
          {"size", ColumnType::kInteger, false},
          {"media_type", ColumnType::kCategorical, false},
          {"digest", ColumnType::kString, false}};
}

}  // namespace aimass::datasets
