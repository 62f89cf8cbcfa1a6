// carry_autoincrement_counters (sequences.h).
#include "sync/sequences.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "util/text.h"

namespace turso_sync {

namespace {

Result<bool> has_sequence_table(db::Database& db) {
  return TS_TRY(db::query_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_sequence'")) != 0;
}

// The counter of `table` (its name compared as SQLite compares table names); nullopt when it has none.
Result<std::optional<int64_t>> counter(db::Database& db, const std::string& table) {
  if (!TS_TRY(has_sequence_table(db))) return std::optional<int64_t>();
  auto stmt = TS_TRY(db.prepare("SELECT max(seq) FROM sqlite_sequence WHERE name = ?1 COLLATE NOCASE"));
  TS_TRY_STATUS(stmt.bind(1, Value::text(table)));
  if (!TS_TRY(stmt.step()) || stmt.column(0).is_null()) return std::optional<int64_t>();
  return std::optional<int64_t>(stmt.column_int64(0));
}

}  // namespace

Status carry_autoincrement_counters(db::Database& working, db::Database* theirs,
                                    const std::vector<std::string>& tables) {
  if (!TS_TRY(has_sequence_table(working))) return {};  // no AUTOINCREMENT table here
  for (const std::string& table : tables) {
    std::optional<int64_t> ours = TS_TRY(counter(working, table));
    int64_t remote = -1;  // none
    if (theirs) {
      std::optional<int64_t> t = TS_TRY(counter(*theirs, table));
      if (t) remote = *t;
    }
    if (!ours && remote < 0) continue;
    auto largest = working.prepare(fmt::format("SELECT max(rowid) FROM {}", quote_identifier(table)));
    if (!largest.ok()) continue;  // a WITHOUT ROWID table, or gone: no counter to keep
    int64_t top = TS_TRY(largest->step()) ? largest->column_int64(0) : 0;
    int64_t wanted = std::max({ours.value_or(0), remote, top});
    if (ours && *ours >= wanted) continue;
    auto write =
        TS_TRY(working.prepare(ours ? "UPDATE sqlite_sequence SET seq = ?2 WHERE name = ?1 COLLATE NOCASE"
                                    : "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)"));
    TS_TRY_STATUS(write.bind(1, Value::text(table)));
    TS_TRY_STATUS(write.bind(2, Value::integer(wanted)));
    auto done = write.step();
    if (!done.ok())
      return done.error().context(fmt::format("raise the AUTOINCREMENT counter of {}", printable(table)));
  }
  return {};
}

}  // namespace turso_sync
