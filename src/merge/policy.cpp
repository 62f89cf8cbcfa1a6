// The decision of each conflict policy for each kind of conflict (policy.h).
#include "merge/policy.h"

namespace turso_sync::merge {

ConflictDecision decide_abort(ConflictKind) {
  return ConflictDecision::stop;
}

ConflictDecision decide_local(ConflictKind kind) {
  switch (kind) {
    case ConflictKind::unique:  // keeping ours would leave out the remote's row: the next push deletes it
    case ConflictKind::schema:  // keeping ours would make the next push rebuild the team's table under them
      return ConflictDecision::stop;
    default:
      return ConflictDecision::keep_ours;
  }
}

ConflictDecision decide_remote(ConflictKind kind) {
  switch (kind) {
    case ConflictKind::unique:  // taking theirs would need our row's other key changed or deleted
      return ConflictDecision::stop;
    default:
      return ConflictDecision::take_theirs;
  }
}

ConflictDecision decide_hold(ConflictKind kind) {
  switch (kind) {
    case ConflictKind::update_update:
    case ConflictKind::update_delete:
    case ConflictKind::delete_update:
    case ConflictKind::insert_insert:
      return ConflictDecision::hold;
    case ConflictKind::dangling:
      return ConflictDecision::hold;  // the parent and the child
    case ConflictKind::dropped_column:
      return ConflictDecision::hold;  // held where the merge can hold it (see local_renames.cpp,
                                      // schema_decision.cpp)
    case ConflictKind::unique:
      return ConflictDecision::hold;  // the local rows holding the value, and the remote's row
    case ConflictKind::schema:
      return ConflictDecision::hold;  // a table as a whole, where the merge can (schema_decision.cpp)
  }
  return ConflictDecision::stop;
}

ConflictHandler conflict_handler(ConflictPolicy policy) {
  switch (policy) {
    case ConflictPolicy::abort:
      return decide_abort;
    case ConflictPolicy::local:
      return decide_local;
    case ConflictPolicy::remote:
      return decide_remote;
    case ConflictPolicy::hold:
      return decide_hold;
  }
  return decide_abort;
}

}  // namespace turso_sync::merge

const char* turso_sync::to_string(ConflictKind kind) {
  switch (kind) {
    case ConflictKind::update_update:
      return "update/update";
    case ConflictKind::update_delete:
      return "update/delete";
    case ConflictKind::delete_update:
      return "delete/update";
    case ConflictKind::insert_insert:
      return "insert/insert";
    case ConflictKind::unique:
      return "unique";
    case ConflictKind::dangling:
      return "dangling reference";
    case ConflictKind::schema:
      return "schema";
    case ConflictKind::dropped_column:
      return "dropped column";
  }
  return "unknown";
}
