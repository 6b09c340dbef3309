#include "common/thread_name.hpp"

#include <pthread.h>

#include <string>

namespace aimass {

void NameThisThread(std::string_view name) {
  std::string cut(name.substr(0, 15));
  pthread_setname_np(pthread_self(), cut.c_str());  // best effort: a name is only a label
}

}  // namespace aimass
