// The conflict policies (--on-conflict) as the merge consults them.
#pragma once

#include "turso_sync/conflict.h"

namespace turso_sync::merge {

// Whether a conflict is settled by taking the remote's side (ours saved in the discarded-changes script).
inline bool takes_theirs(ConflictPolicy policy) {
  return policy == ConflictPolicy::remote;
}

}  // namespace turso_sync::merge
