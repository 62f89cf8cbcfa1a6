// Cooperative cancellation: a signal handler (or another thread) calls request_cancel(); long operations
// check cancel_requested() between steps and stop with ErrorKind::cancelled, leaving every file as it was.
//
// Graceful stop, for loops such as the workflow: after set_graceful_stop(true), the first request only asks
// the loop to stop (stop_requested()) once its current step is done — an operation in progress runs to its
// end — and the second request cancels that operation too.
#pragma once

namespace turso_sync {

void request_cancel();  // async-signal-safe
bool cancel_requested();
bool stop_requested();  // at least one request (always true when cancel_requested() is)
void set_graceful_stop(bool graceful);
void reset_cancel();

}  // namespace turso_sync
