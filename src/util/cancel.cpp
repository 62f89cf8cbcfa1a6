#include "turso_sync/cancel.h"

#include <atomic>

namespace turso_sync {

namespace {
std::atomic<int> g_requests{0};
std::atomic<bool> g_graceful{false};
static_assert(std::atomic<int>::is_always_lock_free, "request_cancel must be async-signal-safe");
}  // namespace

void request_cancel() {
  g_requests.fetch_add(1, std::memory_order_relaxed);
}
bool cancel_requested() {
  return g_requests.load(std::memory_order_relaxed) >= (g_graceful.load(std::memory_order_relaxed) ? 2 : 1);
}
bool stop_requested() {
  return g_requests.load(std::memory_order_relaxed) >= 1;
}
void set_graceful_stop(bool graceful) {
  g_graceful.store(graceful, std::memory_order_relaxed);
}
void reset_cancel() {
  g_requests.store(0, std::memory_order_relaxed);
}

}  // namespace turso_sync
