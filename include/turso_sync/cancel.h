// Cooperative cancellation: a signal handler (or another thread) calls request_cancel(); long operations
// check cancel_requested() between steps and stop with ErrorKind::cancelled, leaving every file as it was.
#pragma once

namespace turso_sync {

void request_cancel();  // async-signal-safe
bool cancel_requested();
void reset_cancel();

}  // namespace turso_sync
