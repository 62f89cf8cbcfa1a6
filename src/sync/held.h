// Held conflicts (ConflictPolicy::hold; user-facing rules in docs/conflicts.md, "Held conflicts"): the rows a
// pull found changed on both sides, kept as the working copy has them and recorded in
// <state dir>/conflicts.json until `resolve` settles them. Push and sync leave them out.
//
// conflicts.json (format version 1), rewritten atomically (temp file, fsync, rename), mode 0600:
//   {"version":1,"conflicts":[{"table":"notes","keyed_by_rowid":true,"key_names":["id"],"key":["i:5"],
//     "kind":"update/update","columns":["id","title"],"base":[…],"ours":[…],"theirs":[…],
//     "conflicting_columns":[1],"about":"…","since":"2026-…Z","theirs_changed_at":"","ours_changed_at":""}]}
// Values are exact strings: "n" NULL, "i:<decimal>" INTEGER, "r:<16 hex digits of the IEEE bits>" REAL,
// "t:<base64>" TEXT (any bytes), "b:<base64>" BLOB. An empty row array means "no such row on that side".
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "db/sqlite.h"
#include "merge/merge.h"
#include "turso_sync/changeset.h"
#include "turso_sync/config.h"
#include "turso_sync/conflict.h"
#include "turso_sync/diff.h"
#include "turso_sync/status.h"

namespace turso_sync {

std::string held_file(const std::string& state_dir);

// The exact text form of a value in conflicts.json, and back (nullopt when `text` is not one).
std::string encode_held_value(const Value& value);
std::optional<Value> decode_held_value(const std::string& text);

// Empty when the file does not exist; ErrorKind::local_db when it cannot be parsed (message says what to do).
Result<std::vector<HeldConflict>> load_held(const std::string& state_dir);
std::string held_to_json(const std::vector<HeldConflict>& held);
Result<std::vector<HeldConflict>> held_from_json(const std::string& text, const std::string& path);
// Rewrites conflicts.json atomically (also when `held` is empty: an empty list).
Status save_held(const std::string& state_dir, const std::vector<HeldConflict>& held);

// Whether `held` holds the row `key` of `table` (table names compared case-insensitively, keys exactly).
// A record with no key holds its whole table (or view) as a whole (a disagreement about its definition,
// docs/conflicts.md "Held conflicts"): every key.
bool is_held(const std::vector<HeldConflict>& held, const std::string& table, const std::vector<Value>& key);
// Whether `held` holds `table` as a whole (a record with no key).
bool holds_table(const std::vector<HeldConflict>& held, const std::string& table);

// Folds a merge into `held`: rows the merge skipped because they are held get the new theirs (and ours),
// and are dropped when both sides now agree; with `policy` == hold, every conflict of the merge becomes a
// held conflict, its ours being the row as the merge leaves it (theirs' non-conflicting columns taken).
// `delta` is the merge's changeset (for the tables' keys). Returns whether `held` changed.
bool fold_merge_into_held(std::vector<HeldConflict>& held, const MergeReport& merge, const Changeset& delta,
                          ConflictPolicy policy);

// The SQL expression naming the rowid of a held conflict's table (keyed_by_rowid): the rule of the merge
// (db::rowid_expression, the alias being the INTEGER PRIMARY KEY column named by key_names).
std::string held_rowid_expression(const HeldConflict& conflict);

// The row of a held conflict's table and key in `db` (nullopt when it does not exist), read from `columns`
// (the record's own column names when null).
Result<std::optional<std::vector<Value>>> read_held_row(db::Database& db, const HeldConflict& conflict,
                                                        const std::vector<std::string>* columns = nullptr);

// The working copy's names of a held record's columns. The record names them as the remote does (the
// replica's names: it follows the remote's renames); a column the working copy renamed since (RENAME
// COLUMN, recognised as diff::column_sources does) goes by its new name, one it dropped is "". The record's
// own names when the table is missing on either side.
Result<std::vector<std::string>> working_columns(db::Database& working, db::Database& replica,
                                                 const HeldConflict& conflict);

// Brings `held` up to date with the files: ours from the working copy (the application may have edited a
// held row again: it stays held with the new ours), theirs from the replica; a conflict whose two sides are
// now equal is dropped (nothing left to settle). Returns whether anything changed.
Result<bool> refresh_held(const Config& config, std::vector<HeldConflict>& held);

// A row change of a push that the push holds itself (a reference it would leave dangling, a UNIQUE value the
// remote keeps, a row the remote refuses): a held conflict of `kind` (to_string(ConflictKind), or "refused"),
// base and theirs the replica's row (empty for an insert), ours the working copy's (empty for a delete),
// since now.
HeldConflict held_push_row(const TableDesc& table, const RowChange& row, const std::string& kind);

// Removes the held rows from a changeset about to be pushed and from its summary; returns how many rows
// were left out.
Result<int64_t> exclude_held(Changeset& changeset, DiffSummary& summary,
                             const std::vector<HeldConflict>& held);

// Removes the rows `leave_out` names (table, key) from a changeset about to be pushed and from its
// summary; returns how many rows were left out. Schema changes stay.
Result<int64_t> exclude_rows(
    Changeset& changeset, DiffSummary& summary,
    const std::function<bool(const std::string& table, const std::vector<Value>& key)>& leave_out);

// Whether two table names are the same (SQLite compares identifiers case-insensitively, ASCII only).
bool same_table(const std::string& a, const std::string& b);

// A key as users type it on the command line: values joined by ",", integers in decimal, text as is.
std::string key_as_text(const std::vector<Value>& key);

}  // namespace turso_sync
