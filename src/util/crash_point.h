// Crash points for the crash-safety tests: `crash_point("pull.after-merge-commit")` kills the process with
// SIGKILL when the environment variable TURSO_SYNC_CRASH_AT names that point, and does nothing otherwise
// (one getenv per process). A test can so stop a command exactly between two durable steps, on any machine
// and at any speed, rather than at a moment picked by a timer. The points are listed in
// docs/reliability.md; a name is "<operation>.<what has just become durable>".
#pragma once

namespace turso_sync {

void crash_point(const char* name);

}  // namespace turso_sync
