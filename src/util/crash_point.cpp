#include "util/crash_point.h"

#include <signal.h>

#include <cstdlib>
#include <cstring>

namespace turso_sync {

void crash_point(const char* name) {
  static const char* const target = std::getenv("TURSO_SYNC_CRASH_AT");
  if (target && std::strcmp(target, name) == 0) ::raise(SIGKILL);
}

}  // namespace turso_sync
