// The JSON documents of the reports: what `turso-sync --json` prints and what the C API's functions return
// (turso_sync.h). One renderer per report, shared by both, so the two never drift apart; the fields are
// documented once, in docs/capi.md. Every function returns one JSON object without a trailing newline.
#pragma once

#include <optional>
#include <string>

#include "turso_sync/config.h"
#include "turso_sync/conflict.h"
#include "turso_sync/diff.h"
#include "turso_sync/history.h"
#include "turso_sync/status.h"
#include "turso_sync/sync.h"
#include "turso_sync/workflow.h"

namespace turso_sync {

// {"command":"init","replica":…,"working_copy":…,"tables":…,…}
std::string init_report_json(const Config& config, const InitReport& report);
// {"command":"pull","pull":{…}}
std::string pull_report_json(const PullReport& report);
// {"command":"push","push":{…}}
std::string push_report_json(const PushReport& report);
// {"command":"sync","pull":{…},"push":{…}}; "push" only when the push ran (the pull applied).
std::string sync_report_json(const PullReport& pull, const std::optional<PushReport>& push);
// {"command":"diff","diff_file":…,"summary":{…}}
std::string diff_report_json(const std::string& diff_file, const DiffSummary& summary);
// {"command":"reset"|"copy","discarded":{…},"discarded_path":…}
std::string reset_report_json(const std::string& command, const ResetReport& report);
// {"config":{…},"files":{…},"initialized":…,"sync":{…},"remote":{…},"pending":{…},"warnings":[…]}
std::string status_report_json(const StatusReport& report);
// One workflow cycle: {"cycle":N,"trigger":…,"exit_code":…,"pulled":{…},"pushed":{…},…}
std::string cycle_report_json(const CycleReport& report);
// {"command":"conflicts","conflicts":[{"table":…,"key":[…],"key_text":…,"kind":…,"columns":[…],"base":[…],
//  "ours":[…],"theirs":[…],"conflicting_columns":[…],"since":…,"theirs_changed_at":…,"ours_changed_at":…}]}
std::string conflicts_report_json(const std::vector<HeldConflict>& held);
// {"command":"resolve","resolved":[{"table":…,"key":[…],"outcome":…,"theirs_changed":…}],"discarded_path":…,
//  "still_held":N}
std::string resolve_report_json(const ResolveReport& report);
// One history entry, as in history.jsonl.
std::string history_entry_json(const HistoryEntry& entry);
// {"command":"log","entries":[…newest first…]}
std::string log_report_json(const std::vector<HistoryEntry>& entries);
// {"error":{"kind":…,"message":…,"exit_code":…}}
std::string error_json(const Error& error);

// The objects nested under "pull" and "push" above.
std::string pull_json_object(const PullReport& report);
std::string push_json_object(const PushReport& report);

}  // namespace turso_sync
