// The conflict policies (--on-conflict), each as ONE decision function in the manner of SQLite session's
// conflict handler: the kind of conflict in, what the merge does out. The merge asks the policy's function
// at every disagreement and never looks at the policy itself, so every policy means the same for every kind
// (the table in docs/conflicts.md, "What each policy does with each kind").
#pragma once

#include "turso_sync/conflict.h"

namespace turso_sync::merge {

enum class ConflictDecision {
  stop,         // nothing is applied; the conflict is reported (exit 3)
  keep_ours,    // our version stays (the next push sends it); the remote's other changes are applied
  take_theirs,  // the remote's version is taken; ours is saved in the discarded-changes script
  hold,         // ours stays and is held: recorded, never pushed, until `resolve`; everything else syncs
};

ConflictDecision decide_abort(ConflictKind kind);
ConflictDecision decide_local(ConflictKind kind);
ConflictDecision decide_remote(ConflictKind kind);
ConflictDecision decide_hold(ConflictKind kind);

using ConflictHandler = ConflictDecision (*)(ConflictKind);
ConflictHandler conflict_handler(ConflictPolicy policy);

}  // namespace turso_sync::merge
