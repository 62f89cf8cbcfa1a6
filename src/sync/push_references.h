// Foreign keys on the push side (docs/conflicts.md, "Foreign keys: a merge never leaves one dangling"): the
// working copy's declared references, which the push batch guards on the remote (sync/push_batch.h), and the
// row changes of a push that would leave a reference dangling by themselves: an application running with
// foreign_keys off (SQLite's default) deleted a row that others still reference, or wrote a row whose parent
// exists nowhere. The remote's guards would refuse those too, but as if a teammate were the cause; found
// here first, they are held (policy hold) or refuse the push naming the rows (every other policy).
#pragma once

#include <string>
#include <vector>

#include "sync/push_batch.h"
#include "turso_sync/changeset.h"
#include "turso_sync/config.h"
#include "turso_sync/conflict.h"

namespace turso_sync {

// The working copy's foreign keys, with the parent's PRIMARY KEY columns filled in where the declaration
// names none. Left out: a parent without such a key or whose table is missing (SQLite cannot check those
// either: "foreign key mismatch").
Result<std::vector<ForeignReference>> read_references(const std::string& working);

// A row change of the push that would leave a reference dangling on the remote.
struct LocalDangling {
  // The row as a held conflict of kind "dangling reference": base and theirs the replica's row (empty for an
  // insert), ours the working copy's (empty for a delete).
  HeldConflict row;
  std::string operation;  // insert, update, delete
  std::string detail;     // e.g. "2 rows of emails (contact_id = 1) still reference it in your working copy"
};

// The row changes of `changeset` (replica -> working copy) that would leave a reference of `references`
// dangling: a deleted row that rows of the working copy still reference (no other row holding its key
// values), an inserted row or an update of a reference's columns whose parent the working copy does not
// have. A reference with a NULL in it is never dangling (SQLite checks nothing then).
Result<std::vector<LocalDangling>> find_local_dangling(const Config& config, const Changeset& changeset,
                                                       const std::vector<ForeignReference>& references);

// The inserts and updates of a reference's columns in `changeset` (held rows already left out) whose parent
// the working copy has but the remote, as last pulled (the replica), does not, and which `changeset` does not
// write either: the parent's row is held (the application edited a row a teammate deleted: update/delete),
// so the remote's parent guard would refuse the whole push. Best effort: a parent table the replica cannot be
// asked about (this push renames its columns) is not checked; the server's guard stands then.
Result<std::vector<LocalDangling>> find_parents_the_remote_lacks(
    const Config& config, const Changeset& changeset, const std::vector<ForeignReference>& references);

// The deletes in `changeset` (and updates of a parent's key columns) of a parent row that the remote version
// (theirs) of a `held` row still references: the working copy no longer has that child (its change is held:
// the application deleted it, or a teammate's new child waits on another held parent), so the remote keeps
// it and its child guard would refuse the whole push, every cycle. Under hold the parent's change is held
// too, until the child's conflict is resolved.
Result<std::vector<LocalDangling>> find_parents_held_rows_reference(
    const Config& config, const Changeset& changeset, const std::vector<ForeignReference>& references,
    const std::vector<HeldConflict>& held);

}  // namespace turso_sync
