#include "turso_sync/cancel.h"

#include <atomic>

namespace turso_sync {

namespace {
std::atomic<bool> g_cancel{false};
static_assert(std::atomic<bool>::is_always_lock_free, "request_cancel must be async-signal-safe");
}  // namespace

void request_cancel() {
  g_cancel.store(true, std::memory_order_relaxed);
}
bool cancel_requested() {
  return g_cancel.load(std::memory_order_relaxed);
}
void reset_cancel() {
  g_cancel.store(false, std::memory_order_relaxed);
}

}  // namespace turso_sync
