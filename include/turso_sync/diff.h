// The exact diff engine: the changeset that turns one SQLite file (the base, e.g. the replica) into another
// (the target, e.g. the working copy), and the renderers of a changeset: SQL (diff.sql), a human summary,
// JSON.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "turso_sync/changeset.h"
#include "turso_sync/status.h"
#include "turso_sync/value.h"

namespace turso_sync {

// Per-table outcome of a diff.
struct TableSummary {
  std::string name;
  KeyKind key_kind = KeyKind::none;
  TableCounts counts;
  std::vector<SchemaOp> schema_ops;  // schema changes that touch this table itself (create/drop/add/rebuild)
};

// An object that stays on its copy (README "Tables that stay local"): never diffed, pushed or pulled over.
struct LocalObject {
  std::string type;  // table, index, trigger, view
  std::string name;
  std::string why;  // "virtual table (fts5)", "shadow table of notes_fts", "TURSO_SYNC_LOCAL_TABLES", ...
};

struct DiffSummary {
  std::vector<SchemaChange> schema;  // every schema change, in execution order
  // Tables with row changes or table-level schema changes: target tables in schema order, then dropped ones.
  std::vector<TableSummary> tables;
  std::vector<std::string> warnings;
  std::vector<LocalObject> local_objects;  // the target's local objects, left out of the diff
  TableCounts totals;
  // Rows read by the row comparison, both sides (a cost statistic: identical pages are skipped unread).
  int64_t rows_read = 0;

  bool has_changes() const { return !schema.empty() || totals.total() > 0; }
};

struct DiffOptions {
  // Compare rows (false: schema changes only, much cheaper).
  bool rows = true;
  // Skip the rows of leaf pages that are byte-identical in both files (rowid tables). Off only to test that
  // the fast path and the full comparison agree.
  bool page_fast_path = true;
  // Page numbers (1-based, sorted) outside of which the two files are byte-identical, when the caller knows
  // them (a page pull does: the pages it wrote). Lets the fast path skip unchanged leaves unread, so the diff
  // costs in proportion to the change. Must be exact: a page left out that differs is a change missed.
  const std::vector<uint32_t>* changed_pages = nullptr;
  // Tables that stay local (Config::local_tables: names or globs), left out with what depends on them.
  std::vector<std::string> local_tables;
  // Names of further local objects (those of the working copy when it is neither side, as in a pull's
  // delta): an object of either side with such a name is left out.
  std::vector<std::string> local_names;
  // Where the BLOBs of k_large_value_bytes or more that the diff reports are kept (value.h, LargeBytes): an
  // anonymous file in this directory ("" = $TMPDIR, else /tmp).
  std::string spill_dir;
};

// Computes the changeset from the database at `base_path` to the one at `target_path` and streams it to
// `sink`. Both files are only read. The target is read inside one read transaction (a consistent snapshot
// even while an application writes to it in WAL mode; no lock that a writer would wait on); so is the base.
// Memory stays bounded by the size of a few rows, whatever the size of the tables.
// Errors: ErrorKind::local_db when a file is missing, unreadable or not a database; ErrorKind::busy when a
// file stays locked; ErrorKind::sql for a schema the engine cannot read (e.g. an unknown collation); any
// error that `sink` returns.
Result<DiffSummary> diff_databases(const std::string& base_path, const std::string& target_path,
                                   ChangeSink& sink, const DiffOptions& options = {});

// The exact SQL expression for a value: a literal that SQLite parses back to the same storage class and
// bytes. REALs that SQLite's own parser would not read back bit for bit become an exact product "(M*2^E
// literal)"; infinities are 9e999 / -9e999; NaN (which SQLite never stores: it binds NaN as NULL) is NULL.
// TEXT with NUL or invalid UTF-8 is CAST(X'..' AS TEXT); control characters are written as char(N), unless
// the text has more than 100 runs of them or a run longer than 100 (SQLite's limits on expression depth and
// function arguments): then the whole text is CAST(X'..' AS TEXT) too.
std::string sql_literal(const Value& value);

// Writes the changeset as a SQL script for the sqlite3 shell: one transaction, schema changes first, then per
// table deletes, updates and inserts, with the target's triggers suspended during the row changes. Run on a
// copy of the base it produces exactly the target.
class SqlWriter final : public ChangeSink {
 public:
  // Where rows are formatted: on a worker thread (started by schema(), joined by finish() or the destructor),
  // which overlaps formatting with the engine's reading; inline; or on a worker when there are 2+ cores.
  enum class Threading { automatic, background, inline_only };
  // Writes to `out` (not owned; e.g. stdout or an open temporary file). `title` goes in the header comment.
  // With a worker thread, `out` must not be used by anyone else until finish() returns or the writer is gone.
  SqlWriter(std::FILE* out, std::string title, Threading threading = Threading::automatic);
  ~SqlWriter() override;
  SqlWriter(const SqlWriter&) = delete;
  SqlWriter& operator=(const SqlWriter&) = delete;

  Status schema(const std::vector<SchemaChange>& changes, const std::vector<TriggerDef>& triggers) override;
  Status table_begin(const TableDesc& table) override;
  Status row(const TableDesc& table, const RowChange& change) override;
  Status table_end(const TableDesc& table, const TableCounts& counts) override;
  Status finish(const std::vector<std::string>& warnings) override;

 private:
  struct State;
  class Spool;
  struct TableRender;
  struct RowJob;
  struct RowBatch;
  Status submit(bool end_of_table);
  void work();
  Status render(const RowBatch& batch);
  Status settle(Spool& spool);
  Status append_value(Spool& spool, const Value& value);
  std::unique_ptr<State> m_state;
};

// What `turso-sync diff` does, as a library call: the diff from the replica (`base_path`) to the working copy
// (`target_path`) written as SQL to `diff_path` atomically (a temporary file in the same directory, mode
// 0600, flushed to disk, then renamed over `diff_path`). Returns the summary. Errors: ErrorKind::config when
// the replica or the working copy does not exist ("run `turso-sync init` first"); ErrorKind::io when the file
// cannot be written (then `diff_path` is left as it was); those of diff_databases().
Result<DiffSummary> write_diff_file(const std::string& base_path, const std::string& target_path,
                                    const std::string& diff_path, const DiffOptions& options = {});

// Writes the SQL script that `produce` sends through a SqlWriter (titled `title`) to `path` atomically, as
// write_diff_file does: the script is never whole in memory. Errors: ErrorKind::io (then `path` is left as
// it was), or those `produce` returns.
Status write_sql_script(const std::string& path, const std::string& title,
                        const std::function<Status(ChangeSink&)>& produce);

// Checks that the replica and the working copy exist (ErrorKind::config with what to do next otherwise).
Status check_diff_inputs(const std::string& base_path, const std::string& target_path);

// A ChangeSink that ignores everything (when only the summary is wanted).
class NullSink final : public ChangeSink {
 public:
  Status schema(const std::vector<SchemaChange>&, const std::vector<TriggerDef>&) override { return {}; }
  Status table_begin(const TableDesc&) override { return {}; }
  Status row(const TableDesc&, const RowChange&) override { return {}; }
  Status table_end(const TableDesc&, const TableCounts&) override { return {}; }
  Status finish(const std::vector<std::string>&) override { return {}; }
};

// Human summary: one line per table ("  emails  +3 ~1 -0  (added column)"), schema changes, warnings, totals.
// "No changes." when there are none.
std::string render_summary(const DiffSummary& summary);
// Compact: per table "name | N changes (+i ~u -d)" and a totals line, like `git diff --stat`.
std::string render_stat(const DiffSummary& summary);
// Machine-readable JSON (keys documented in docs/changeset.md), one object, newline-terminated.
std::string render_json(const DiffSummary& summary);

}  // namespace turso_sync
