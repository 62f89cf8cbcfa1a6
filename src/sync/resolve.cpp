// conflicts and resolve: listing and settling the rows held by ConflictPolicy::hold (sync/held.h).
#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "db/schema.h"
#include "db/sqlite.h"
#include "sync/discarded.h"
#include "sync/held.h"
#include "sync/push_references.h"
#include "sync/state.h"
#include "turso_sync/diff.h"
#include "turso_sync/sync.h"
#include "util/crash_point.h"
#include "util/fs.h"
#include "util/text.h"

namespace turso_sync {

namespace {

std::string key_where(const HeldConflict& c, std::vector<Value>& args) {
  std::string where;
  if (c.keyed_by_rowid) {
    where = held_rowid_expression(c) + " = ?";
  } else {
    for (const std::string& k : c.key_names)
      where += fmt::format("{}{} = ?", where.empty() ? "" : " AND ", quote_identifier(k));
  }
  args.insert(args.end(), c.key.begin(), c.key.end());
  return where;
}

// The statement that makes the row of `c` equal to `row` (empty: absent) given that it is `current` now, with
// its arguments; "" when nothing is to do. `literal`: values inlined as SQL literals (for the discarded
// file).
std::string write_row_sql(const HeldConflict& c, const std::vector<Value>& current,
                          const std::vector<Value>& row, std::vector<Value>& args, bool literal) {
  if (current == row) return "";
  std::string table = quote_identifier(c.table);
  auto value = [&](const Value& v) {
    if (literal) return sql_literal(v);
    args.push_back(v);
    return std::string("?");
  };
  if (row.empty()) {
    std::vector<Value> key_args;
    std::string where = key_where(c, key_args);
    if (literal) {
      for (const Value& k : key_args) where.replace(where.find('?'), 1, sql_literal(k));
    } else {
      args.insert(args.end(), key_args.begin(), key_args.end());
    }
    return fmt::format("DELETE FROM {} WHERE {}", table, where);
  }
  if (current.empty()) {
    std::string cols, vals;
    if (c.keyed_by_rowid) {
      cols = held_rowid_expression(c);
      vals = value(c.key.at(0));
    }
    for (size_t i = 0; i < c.columns.size() && i < row.size(); ++i) {
      cols += (cols.empty() ? "" : ", ") + quote_identifier(c.columns[i]);
      vals += (vals.empty() ? "" : ", ") + value(row[i]);
    }
    return fmt::format("INSERT INTO {} ({}) VALUES ({})", table, cols, vals);
  }
  std::string set;
  for (size_t i = 0; i < c.columns.size() && i < row.size() && i < current.size(); ++i) {
    if (row[i] == current[i]) continue;
    set += fmt::format("{}{} = {}", set.empty() ? "" : ", ", quote_identifier(c.columns[i]), value(row[i]));
  }
  if (set.empty()) return "";
  std::vector<Value> key_args;
  std::string where = key_where(c, key_args);
  if (literal) {
    for (const Value& k : key_args) where.replace(where.find('?'), 1, sql_literal(k));
  } else {
    args.insert(args.end(), key_args.begin(), key_args.end());
  }
  return fmt::format("UPDATE {} SET {} WHERE {}", table, set, where);
}

// An object of a table (or view): its name, type and SQL.
struct TableObject {
  std::string name, type, sql;
};

// The objects of `table` (or view) in `db`: the table or view first, then its indexes and triggers.
Result<std::vector<TableObject>> table_objects(db::Database& db, const std::string& table) {
  auto st =
      TS_TRY(db.prepare("SELECT name, type, sql FROM sqlite_schema WHERE tbl_name = ?1 COLLATE NOCASE AND "
                        "sql IS NOT NULL ORDER "
                        "BY type IN ('table', 'view') DESC"));
  TS_TRY_STATUS(st.bind(1, Value::text(table)));
  std::vector<TableObject> out;
  while (TS_TRY(st.step())) out.push_back({st.column_text(0), st.column_text(1), st.column_text(2)});
  return out;
}

// A table (or view) held as a whole, as SQL that creates it again with its rows in `db`: what `resolve
// --theirs` saves of the working copy's before taking the remote's, and `--ours` of the replica's. Headed
// by what the record says of it.
Result<std::string> dump_table(db::Database& db, const HeldConflict& h) {
  std::vector<TableObject> objects = TS_TRY(table_objects(db, h.table));
  std::string out =
      fmt::format("-- table {}, held as a whole ({}{}{})\n", printable(quote_identifier(h.table)), h.kind,
                  h.about.empty() ? "" : ": ", printable(h.about));
  if (objects.empty()) return out;
  out += objects[0].sql + ";\n";
  if (objects[0].type == "table") {  // a view holds no rows
    auto rows = TS_TRY(db.prepare(fmt::format("SELECT * FROM {}", quote_identifier(h.table))));
    while (TS_TRY(rows.step())) {
      std::string values;
      for (int i = 0; i < rows.column_count(); ++i) values += (i ? ", " : "") + sql_literal(rows.column(i));
      out += fmt::format("INSERT INTO {} VALUES ({});\n", quote_identifier(h.table), values);
    }
  }
  for (size_t i = 1; i < objects.size(); ++i) out += objects[i].sql + ";\n";
  return out;
}

// `resolve --theirs` of a table held as a whole: the working copy's table becomes the replica's (its
// definition, indexes, triggers and rows), or goes when the remote dropped it. Its AUTOINCREMENT counter
// never goes back. The working copy's own indexes and triggers of it are created again where they still fit
// (all of them are in the discarded file already).
Status take_replicas_table(db::Database& working, db::Database& replica, const std::string& table) {
  std::vector<TableObject> ours = TS_TRY(table_objects(working, table));
  std::vector<TableObject> theirs = TS_TRY(table_objects(replica, table));
  int64_t counter = -1;
  if (TS_TRY(db::query_int(working, "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_sequence'"))) {
    auto seq = TS_TRY(working.prepare("SELECT seq FROM sqlite_sequence WHERE name = ?1 COLLATE NOCASE"));
    TS_TRY_STATUS(seq.bind(1, Value::text(table)));
    if (TS_TRY(seq.step())) counter = seq.column_int64(0);
  }
  bool ours_view = !ours.empty() && ours[0].type == "view";
  TS_TRY_STATUS(working.exec(
      fmt::format("DROP {} IF EXISTS main.{}", ours_view ? "VIEW" : "TABLE", quote_identifier(table))));
  if (theirs.empty()) return {};
  TS_TRY_STATUS(working.exec(theirs[0].sql));
  if (theirs[0].type == "table") TS_TRY_STATUS(db::copy_rows(replica, working, table));
  for (size_t i = 1; i < theirs.size(); ++i) TS_TRY_STATUS(working.exec(theirs[i].sql));
  for (size_t i = 1; i < ours.size(); ++i)
    if (std::none_of(theirs.begin(), theirs.end(),
                     [&](const TableObject& t) { return same_table(t.name, ours[i].name); }))
      (void)working.exec(ours[i].sql);  // one that no longer fits stays in the discarded file only
  if (counter >= 0) {
    auto up = TS_TRY(
        working.prepare("UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1 COLLATE NOCASE"));
    TS_TRY_STATUS(up.bind(1, Value::text(table)));
    TS_TRY_STATUS(up.bind(2, Value::integer(counter)));
    TS_TRY(up.step());
    if (sqlite3_changes(working.handle()) == 0) {
      auto add = TS_TRY(working.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)"));
      TS_TRY_STATUS(add.bind(1, Value::text(table)));
      TS_TRY_STATUS(add.bind(2, Value::integer(counter)));
      TS_TRY(add.step());
    }
  }
  return {};
}

bool holds_any_table(const std::vector<HeldConflict>& held) {
  return std::any_of(held.begin(), held.end(), [](const HeldConflict& h) { return h.key.empty(); });
}

// A row of the working copy as PRAGMA foreign_key_check names it: table and rowid.
using RowRef = std::pair<std::string, int64_t>;

// The rows of `tables` that reference a row their parent table does not have. A row of a WITHOUT ROWID table
// has no rowid to name it: an error.
Result<std::set<RowRef>> dangling_rows(db::Database& db, const std::set<std::string>& tables) {
  std::set<RowRef> out;
  for (const std::string& table : tables) {
    db::Statement st = TS_TRY(db.prepare("PRAGMA foreign_key_check(" + quote_identifier(table) + ")"));
    while (TS_TRY(st.step())) {
      if (st.column(1).is_null())
        return Error(ErrorKind::conflict,
                     fmt::format("resolve --theirs: rows of {} (WITHOUT ROWID) would reference a row the "
                                 "remote does not have; nothing was changed. Settle those rows by hand, or "
                                 "keep yours with `resolve --ours`",
                                 printable(table)));
      out.insert({st.column_text(0), st.column_int64(1)});
    }
  }
  return out;
}

// The row `rowid` of `table` in `db` (its stored columns, named in `columns`); empty when absent.
Result<std::vector<Value>> row_by_rowid(db::Database& db, const std::string& table, int64_t rowid,
                                        std::vector<std::string>& columns) {
  db::TableInfo info = TS_TRY(db::read_table_info(db, table));
  columns.clear();
  std::string select;
  for (int i : info.stored_columns()) {
    columns.push_back(info.columns[i].name);
    select += (select.empty() ? "" : ", ") + quote_identifier(info.columns[i].name);
  }
  if (info.rowid_expr.empty() || select.empty()) return std::vector<Value>{};
  db::Statement st = TS_TRY(db.prepare(
      fmt::format("SELECT {} FROM {} WHERE {} = ?", select, quote_identifier(table), info.rowid_expr)));
  const std::vector<Value> key{Value::integer(rowid)};
  TS_TRY_STATUS(st.bind_all(key));
  std::vector<Value> row;
  if (TS_TRY(st.step()))
    for (int i = 0; i < st.column_count(); ++i) row.push_back(st.column(i));
  return row;
}

// Rows that `resolve --theirs` left referencing a row it removed (the remote has no such row), inside the
// open transaction of `working`: each takes the remote's version as last pulled (the replica's row), or is
// removed when the remote has none (a row written here only), as the merge settles them under
// `--on-conflict=remote`. `before`: the dangling rows there were already (not ours to settle). Repeated
// until no new one appears: a removed row may have rows of its own, and a remote version may still point
// at a removed row (it is then removed too). Returns the rows settled, shaped as held rows (ours: the
// working copy's row before; theirs: what it became, empty when removed), in the order they were written.
Result<std::vector<HeldConflict>> settle_dependents(db::Database& working, db::Database& replica,
                                                    const std::set<std::string>& tables,
                                                    const std::set<RowRef>& before) {
  std::vector<HeldConflict> settled;
  std::map<RowRef, size_t> index;
  for (int pass = 0;; ++pass) {
    std::set<RowRef> now = TS_TRY(dangling_rows(working, tables));
    std::vector<RowRef> fresh;
    for (const RowRef& r : now)
      if (!before.count(r)) fresh.push_back(r);
    if (fresh.empty()) return settled;
    if (pass > 64)
      return Error(ErrorKind::internal, "resolve --theirs: rows that referenced removed rows did not settle");
    for (const RowRef& r : fresh) {
      auto seen = index.find(r);
      if (seen != index.end()) {
        // Its remote version references a row that is gone too: removed.
        HeldConflict& h = settled[seen->second];
        std::vector<Value> args;
        std::string stmt = write_row_sql(h, h.theirs, {}, args, /*literal=*/false);
        h.theirs.clear();
        if (stmt.empty()) continue;
        db::Statement st = TS_TRY(working.prepare(stmt));
        TS_TRY_STATUS(st.bind_all(args));
        TS_TRY(st.step());
        continue;
      }
      HeldConflict h;
      h.table = r.first;
      h.kind = "dependent";
      h.key = {Value::integer(r.second)};
      h.ours = TS_TRY(row_by_rowid(working, r.first, r.second, h.columns));
      std::vector<std::string> remote_columns;
      h.theirs = TS_TRY(row_by_rowid(replica, r.first, r.second, remote_columns));
      if (remote_columns != h.columns) h.theirs.clear();  // the table changed shape since: removed
      db::TableInfo info = TS_TRY(db::read_table_info(working, r.first));
      h.key_names = {info.rowid_alias >= 0 ? info.columns[info.rowid_alias].name : std::string("rowid")};
      std::vector<Value> args;
      std::string stmt = write_row_sql(h, h.ours, h.theirs, args, /*literal=*/false);
      if (!stmt.empty()) {
        db::Statement st = TS_TRY(working.prepare(stmt));
        TS_TRY_STATUS(st.bind_all(args));
        TS_TRY(st.step());
      }
      index[r] = settled.size();
      settled.push_back(std::move(h));
    }
  }
}

// The tables whose rows may reference, directly or through other rows, a row of `tables`.
std::set<std::string> referencing_tables(const std::vector<ForeignReference>& references,
                                         const std::set<std::string>& tables) {
  std::set<std::string> parents = tables, out;
  for (bool grew = true; grew;) {
    grew = false;
    for (const ForeignReference& r : references)
      if (parents.count(lower_ascii(r.parent)) && out.insert(r.child).second) {
        parents.insert(lower_ascii(r.child));
        grew = true;
      }
  }
  return out;
}

bool matches(const HeldConflict& c, const ResolveOptions& o) {
  if (!o.table.empty() && sqlite3_stricmp(o.table.c_str(), c.table.c_str()) != 0) return false;
  if (o.keys.empty()) return true;
  std::string key = key_as_text(c.key);
  return std::find(o.keys.begin(), o.keys.end(), key) != o.keys.end();
}

}  // namespace

Result<std::vector<HeldConflict>> SyncContext::conflicts() {
  std::vector<HeldConflict> held = TS_TRY(load_held(m_config.state_dir));
  if (!held.empty() && require_initialized().ok()) TS_TRY(refresh_held(m_config, held));
  return held;
}

Result<ResolveReport> SyncContext::resolve_files(const ResolveOptions& options) {
  TS_TRY_STATUS(require_initialized());
  const Config& c = m_config;
  StateLock lock = TS_TRY(StateLock::acquire(c.state_dir));
  std::vector<std::string> notes;
  TS_TRY_STATUS(recover(notes));
  std::vector<HeldConflict> held = TS_TRY(load_held(c.state_dir));
  // What the files hold now: a row the application edited again is resolved with its newest version, and a
  // row the remote changed again since it was held is re-checked against its newest version (the replica's).
  std::vector<HeldConflict> recorded = held;
  TS_TRY(refresh_held(c, held));
  ResolveReport report;
  for (const HeldConflict& r : recorded)
    if (matches(r, options) && !is_held(held, r.table, r.key))
      report.resolved.push_back({r.table, r.key, "agreed", false});

  std::vector<HeldConflict> chosen, kept;
  for (HeldConflict& h : held) (matches(h, options) ? chosen : kept).push_back(std::move(h));
  if (chosen.empty() && report.resolved.empty() && (!options.table.empty() || !options.keys.empty()))
    return Error(ErrorKind::usage,
                 fmt::format("resolve: no held conflict matches{}{}; `turso-sync conflicts` lists them",
                             options.table.empty() ? "" : " table " + options.table,
                             options.keys.empty() ? "" : " and the given keys"));
  auto theirs_changed = [&](const HeldConflict& h) {
    for (const HeldConflict& r : recorded)
      if (r.key == h.key && sqlite3_stricmp(r.table.c_str(), h.table.c_str()) == 0)
        return !h.theirs_changed_at.empty() || r.theirs != h.theirs;
    return !h.theirs_changed_at.empty();
  };

  if (options.take == Resolution::theirs && !chosen.empty()) {
    // The rows as the working copy names their columns: a column it renamed since the row was held takes
    // theirs' value under its new name; one it dropped cannot take it (nothing is changed then).
    std::vector<HeldConflict> local = chosen;
    db::Database replica = TS_TRY(db::Database::open(c.replica_path, db::OpenMode::read_only));
    {
      db::Database working = TS_TRY(db::Database::open(c.working_path, db::OpenMode::read_only));
      for (HeldConflict& h : local) {
        std::vector<std::string> names = TS_TRY(working_columns(working, replica, h));
        for (size_t i = 0; i < names.size(); ++i)
          if (names[i].empty())
            return Error(
                ErrorKind::usage,
                fmt::format("resolve --theirs: table {} of your working copy no longer has column {} "
                            "(you dropped it since row [{}] was held), so the remote's value cannot "
                            "be written; nothing was changed. Add the column back (or undo your "
                            "migration) and run resolve again, or keep yours with `resolve --ours`",
                            printable(h.table), printable(h.columns[i]), printable(key_as_text(h.key))));
        h.columns = std::move(names);
      }
    }
    // The working copy takes theirs in one transaction, which commits only once ours went to the
    // discarded-changes file (durably); then the record is rewritten: a crash in between leaves a record
    // whose two sides agree, which the next command drops.
    std::vector<ForeignReference> references = TS_TRY(read_references(c.working_path));
    std::set<std::string> written;
    for (const HeldConflict& h : local)
      if (!holds_table(chosen, h.table)) written.insert(lower_ascii(h.table));
    std::set<std::string> children = referencing_tables(references, written);
    db::Database working = TS_TRY(db::Database::open(c.working_path, db::OpenMode::read_write));
    // The remote's row holds every effect its triggers had: the working copy's triggers must not fire (as in
    // a pull's merge), nor foreign keys stop a row that is consistent on the remote.
    sqlite3_db_config(working.handle(), SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, nullptr);
    TS_TRY_STATUS(working.exec("PRAGMA foreign_keys = OFF"));
    db::Transaction tx = TS_TRY(db::Transaction::begin(working, db::Transaction::Kind::immediate));
    std::set<RowRef> dangling_before = TS_TRY(dangling_rows(working, children));
    // A row may need a UNIQUE value that another chosen row still holds (a UNIQUE clash held on both
    // sides): a write that meets a constraint waits for the others, and is tried again while any succeeds.
    std::vector<const HeldConflict*> pending;
    for (const HeldConflict& h : local)
      if (!holds_table(chosen, h.table)) pending.push_back(&h);  // a table held as a whole goes below
    bool cleared = false;
    while (!pending.empty()) {
      std::vector<const HeldConflict*> waiting;
      std::optional<Error> last;
      for (const HeldConflict* h : pending) {
        std::vector<Value> args;
        std::string stmt = write_row_sql(*h, h->ours, h->theirs, args, /*literal=*/false);
        if (stmt.empty()) continue;
        db::Statement st = TS_TRY(working.prepare(stmt));
        TS_TRY_STATUS(st.bind_all(args));
        auto done = st.step();
        if (done.ok()) continue;
        Error e = done.error().context(fmt::format("resolve --theirs: write the remote's row {} [{}] into {}",
                                                   printable(h->table), printable(key_as_text(h->key)),
                                                   c.working_path));
        if (done.error().message().find("constraint failed") == std::string::npos) return e;
        waiting.push_back(h);
        last = std::move(e);
      }
      if (waiting.size() == pending.size() && last && !cleared) {
        // Rows that swap values (row 2 takes row 3's, row 3 takes row 2's): their disputed columns are
        // first set to a placeholder of their own (a BLOB no other row holds), then written again.
        cleared = true;
        for (const HeldConflict* h : waiting) {
          if (h->ours.empty() || h->theirs.size() != h->ours.size()) continue;
          std::vector<Value> nulls = h->ours;
          for (size_t i = 0; i < nulls.size(); ++i)
            if (nulls[i] != h->theirs[i])
              nulls[i] =
                  Value::blob(fmt::format("turso-sync resolve {} {} {}", h->table, key_as_text(h->key), i));
          std::vector<Value> args;
          std::string stmt = write_row_sql(*h, h->ours, nulls, args, /*literal=*/false);
          if (stmt.empty()) continue;
          db::Statement st = TS_TRY(working.prepare(stmt));
          TS_TRY_STATUS(st.bind_all(args));
          if (!st.step().ok()) continue;  // a CHECK or STRICT column refuses it: the error below stands
        }
        continue;
      }
      if (waiting.size() == pending.size() && last)
        return Error(ErrorKind::conflict,
                     last->message() +
                         "; another row of your working copy holds a value the remote's row needs: change "
                         "that row, then run resolve again (nothing was changed)");
      pending = std::move(waiting);
    }
    std::vector<HeldConflict> dependents =
        TS_TRY(settle_dependents(working, replica, children, dangling_before));
    report.dependents = static_cast<int64_t>(dependents.size());

    std::string sql = fmt::format(
        "-- Local versions of held conflicts replaced by the remote's (`turso-sync resolve --theirs`) at "
        "{}.\n"
        "-- Running this on the working copy puts them back (the next push sends them).\nBEGIN;\n",
        utc_timestamp());
    for (const HeldConflict& h : local) {
      if (holds_table(chosen, h.table)) continue;  // the table's dump below holds the row
      std::vector<Value> unused;
      std::string restore = write_row_sql(h, h.theirs, h.ours, unused, /*literal=*/true);
      if (restore.empty()) continue;
      sql += fmt::format("-- {} key {} ({})\n{};\n", printable(quote_identifier(h.table)),
                         printable(key_as_text(h.key)), h.kind, restore);
    }
    for (const HeldConflict& h : dependents) {
      std::vector<Value> unused;
      std::string restore = write_row_sql(h, h.theirs, h.ours, unused, /*literal=*/true);
      if (restore.empty()) continue;
      sql += fmt::format("-- {} rowid {}: it referenced a row above, which the remote does not have\n{};\n",
                         printable(quote_identifier(h.table)), printable(key_as_text(h.key)), restore);
    }
    for (const HeldConflict& h : chosen)
      if (h.key.empty()) sql += TS_TRY(dump_table(working, h));
    sql += "COMMIT;\n";
    report.discarded_path = TS_TRY(save_discarded(c, sql));
    crash_point("resolve.discarded-saved");
    for (const HeldConflict& h : chosen)
      if (h.key.empty()) TS_TRY_STATUS(take_replicas_table(working, replica, h.table));
    TS_TRY_STATUS(tx.commit());
    crash_point("resolve.working-committed");
  }
  if (options.take == Resolution::ours && holds_any_table(chosen)) {
    // A table held as a whole is pushed as the working copy has it, over the remote's: the remote's is
    // saved first (its rows and definition as last pulled), so that nothing of the team's is lost unseen.
    db::Database replica = TS_TRY(db::Database::open(c.replica_path, db::OpenMode::read_only));
    std::string sql = fmt::format(
        "-- The remote's tables replaced by yours (`turso-sync resolve --ours`) at {}, as last pulled.\n",
        utc_timestamp());
    bool any = false;
    for (const HeldConflict& h : chosen) {
      if (!h.key.empty() || TS_TRY(table_objects(replica, h.table)).empty()) continue;
      sql += TS_TRY(dump_table(replica, h));
      any = true;
    }
    if (any) report.discarded_path = TS_TRY(save_discarded(c, sql));
  }
  for (const HeldConflict& h : chosen)
    report.resolved.push_back(
        {h.table, h.key, options.take == Resolution::theirs ? "theirs" : "ours", theirs_changed(h)});
  TS_TRY_STATUS(save_held(c.state_dir, kept));
  report.still_held = static_cast<int64_t>(kept.size());
  return report;
}

}  // namespace turso_sync
