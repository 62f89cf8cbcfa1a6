// Local objects (docs/conflicts.md; README, `TURSO_SYNC_LOCAL_TABLES`): what stays on one copy and is never
// pushed, pulled over or diffed.
//   - virtual tables (FTS3/4/5, rtree, any module) and their shadow tables: the server may have no module
//     for them (the local Turso server has none), and their content is derived from rows that do sync;
//   - the tables named by TURSO_SYNC_LOCAL_TABLES (names or globs, case-insensitive);
//   - the indexes of those tables, and the triggers and views that name any of them: a trigger that feeds a
//     full-text index, sent alone, would fail every write of its table on the remote.
// An object of the other side with the name of a local object is left alone too (never created, dropped or
// changed over the local one).
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "db/sqlite.h"
#include "turso_sync/diff.h"

namespace turso_sync::diff {

// Whether `name` matches one of `patterns` (names or globs `*`, `?`, `[...]`), case-insensitively.
bool matches_local_pattern(const std::vector<std::string>& patterns, std::string_view name);

// The local objects of `schema` ("main", "base", ...) on `db`, in sqlite_schema order: its virtual and
// shadow tables, its tables matching `patterns` or named in `also` (lower-cased names), and the indexes,
// triggers and views that depend on any of those (of this schema or named in `also`). Internal tables
// (db::is_internal_name) are never listed.
Result<std::vector<LocalObject>> find_local_objects(db::Database& db, const std::string& schema,
                                                    const std::vector<std::string>& patterns,
                                                    const std::set<std::string>& also = {});

// The lower-cased names of `objects`.
std::set<std::string> local_names(const std::vector<LocalObject>& objects);

// The local objects of the database file `path` (read-only, through SQLite).
Result<std::vector<LocalObject>> find_local_objects_in(const std::string& path,
                                                       const std::vector<std::string>& patterns);

// A full-text index kept from its content table by SQLite itself on demand: an FTS4/FTS5 table with
// external content (`content=notes`), which a 'rebuild' command fills again from that table.
struct ContentIndex {
  std::string name;     // the virtual table
  std::string content;  // its content table
};

// The external-content FTS4/FTS5 tables of `main` on `db` (parsed from their CREATE VIRTUAL TABLE).
Result<std::vector<ContentIndex>> find_content_indexes(db::Database& db);

// Rebuilds (`INSERT INTO fts(fts) VALUES('rebuild')`) every external-content full-text index of `main`
// whose content table is in `tables` (lower-cased names): after a pull wrote rows of those tables with the
// application's triggers set aside, each index follows the rows its copy now holds. Runs in the caller's
// transaction. Returns the names of the indexes rebuilt.
Result<std::vector<std::string>> rebuild_content_indexes(db::Database& db,
                                                         const std::set<std::string>& tables);

}  // namespace turso_sync::diff
