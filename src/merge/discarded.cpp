// The discarded-changes script: SQL that, run on the merged working copy, writes back what the merge replaced
// of ours (rows, columns, tables as turso_sync_discarded_<name>, schema objects). Meant for
// .turso-sync/discarded-<time>.sql (MergeReport::discarded_sql).
#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "db/schema.h"
#include "diff/schema_plan.h"
#include "diff/sql_text.h"
#include "merge/merger.h"
#include "util/text.h"

namespace turso_sync::merge {

// SQL that keeps a table's rows as they are in `db`, in a table named turso_sync_discarded_<name> (never
// synced), for the discarded-changes script.
Result<std::string> Merger::dump_table_sql(db::Database& db, const std::string& table,
                                           const std::string& why) {
  auto sql = TS_TRY(object_sql(db, "table", table));
  if (!sql) return std::string();
  std::string kept = quote_identifier("turso_sync_discarded_" + table);
  std::string out = fmt::format("-- table {}: your version, replaced by the remote's ({}); kept as {}\n",
                                printable(table), why, printable(kept));
  out += "DROP TABLE IF EXISTS " + kept + ";\n" + diff::rename_created(*sql, kept) + ";\n";
  auto rows = TS_TRY(db.prepare(fmt::format("SELECT * FROM {}", quote_identifier(table))));
  while (TS_TRY(rows.step())) {
    std::string values;
    for (int i = 0; i < rows.column_count(); ++i) values += (i ? ", " : "") + sql_literal(rows.column(i));
    out += fmt::format("INSERT INTO {} VALUES({});\n", kept, values);
  }
  return out;
}

void Merger::note_discarded(const TableWriter& w, const RowChange& r, const char* kind,
                            const std::string& sql) {
  m_discarded += fmt::format("-- {} key {} ({})\n", printable(quote_identifier(w.table().name)),
                             printable(describe_key(r.key)), kind);
  m_discarded += sql;
}

// The script of everything this merge discarded, "" when nothing was.
std::string Merger::discarded_script() const {
  if (m_discarded.empty()) return std::string();
  return "-- Local values replaced by the remote's during a pull (--on-conflict=remote).\n"
         "-- Running this on the working copy puts them back (the next push sends them); its triggers\n"
         "-- fire as for any other change.\n"
         "BEGIN;\n" +
         m_discarded + "COMMIT;\n";
}

}  // namespace turso_sync::merge
