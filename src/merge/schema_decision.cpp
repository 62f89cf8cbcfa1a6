// Schema merge, the decision: every object the delta touches (table, index, view, trigger, user_version) is
// looked up by type and name (case-insensitively) in the base, theirs and ours, and compared by meaning
// (tables: TableMeaning; other objects: normalised SQL; user_version: its value). ours == theirs: nothing to
// do (the same migration on both sides is one migration); ours == base: the remote's change is applied to
// ours; an object this copy just pushed: theirs is taken (the server's form of it); otherwise a conflict,
// settled only by on_conflict == remote. Objects that depend on a rebuilt table follow its decision.
// Also the descriptions of what a conflict would cost (local additions lost, local edits of dropped columns).
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

// The action for one object from its three meanings: a pure decision. A dependent object (dropped and
// created again because what it depends on is replaced) is decided later, after the others.
Merger::Action Merger::decide_object(const Decision& meanings, bool dependent, bool pushed_by_us,
                                     ConflictDecision on_conflict) {
  if (dependent) return Action::dependent;
  if (meanings.ours == meanings.theirs) return Action::skip;
  if (meanings.ours == meanings.base) return Action::apply;
  if (pushed_by_us || on_conflict == ConflictDecision::take_theirs) return Action::adopt;
  return Action::conflict;
}

// The decision for every object the delta touches; `conflicts` gets one line per conflict, `saved` what the
// decisions discard of ours (for the discarded-changes script, once the decisions are applied).
Result<std::map<std::string, Merger::Decision>> Merger::decide_schema(db::Database& base,
                                                                      db::Database& theirs,
                                                                      std::vector<std::string>& conflicts,
                                                                      std::string& saved) {
  std::map<std::string, Decision> decisions;
  for (const SchemaChange& c : m_delta.schema) {
    std::string key = object_key(c.object_type, c.name);
    if (decisions.count(key)) continue;
    Decision d;
    d.ours = TS_TRY(ours_meaning(c.object_type, c.name));
    d.base = TS_TRY(object_meaning(base, c.object_type, c.name));
    d.theirs = TS_TRY(object_meaning(theirs, c.object_type, c.name));
    d.action = decide_object(d, c.reason == SchemaReason::dependent, m_pushed_objects.count(key) != 0,
                             decide(ConflictKind::schema));
    if (held_whole(c.table) || held_whole(c.name)) d.action = Action::skip;  // it waits for `resolve`
    if (d.action == Action::conflict) {
      std::string theirs_did = d.base.empty() ? "created it" : describe_state(d.theirs, "changed it");
      std::string ours_did = d.base.empty() ? "created it differently" : describe_state(d.ours, "changed it");
      std::string lost = c.object_type == "table" && !d.ours.empty() && !d.theirs.empty()
                             ? TS_TRY(local_additions_lost(c.name, base, theirs))
                             : std::string();
      std::string line = fmt::format("{}: the remote {} and the working copy {}{}", describe_object(c),
                                     theirs_did, ours_did, lost);
      // Under hold, the table the object belongs to (a view: the view) is held as a whole, while the working
      // copy still has it (a view: ours, which the merge set aside and creates again); user_version belongs
      // to no table: it stops.
      const std::string& held_name = c.object_type == "view" ? c.name : c.table;
      bool holdable = c.object_type == "view" ? !d.ours.empty()
                      : c.object_type == "pragma" || held_name.empty()
                          ? false
                          : TS_TRY(object_sql(m_db, "table", held_name)).has_value();
      if (holdable && decide(ConflictKind::schema) == ConflictDecision::hold) {
        hold_whole_table(held_name, ConflictKind::schema, line);
        d.action = Action::skip;
      } else {
        conflicts.push_back(std::move(line));
      }
    }
    decisions.emplace(key, std::move(d));
  }
  // The objects of a table held as a whole (above, or by an earlier pull) wait for `resolve` with it.
  for (const SchemaChange& c : m_delta.schema)
    if (held_whole(c.table) || held_whole(c.name))
      decisions[object_key(c.object_type, c.name)].action = Action::skip;
  // Objects that are dropped and created again because what they depend on is replaced: they follow the
  // decision for it, unless the working copy changed them (then its version is kept, like its own objects).
  auto replaced = [&](const std::string& table) {
    auto it = decisions.find(object_key("table", table));
    return it != decisions.end() &&
           (it->second.action == Action::apply || it->second.action == Action::adopt);
  };
  for (const SchemaChange& c : m_delta.schema) {
    Decision& d = decisions[object_key(c.object_type, c.name)];
    if (d.action != Action::dependent) continue;
    bool follows = replaced(c.table);
    if (c.object_type == "view") {
      const std::string& sql = c.new_sql.empty() ? c.old_sql : c.new_sql;
      for (const auto& [key, other] : decisions)
        if ((other.action == Action::apply || other.action == Action::adopt) &&
            diff::refers_to(sql, key.substr(key.find(':') + 1)))
          follows = true;
    }
    d.action = follows && d.ours == d.base ? Action::apply : Action::skip;
  }
  for (const SchemaChange& c : m_delta.schema) {
    if (c.op != SchemaOp::rebuild_table || decisions[object_key("table", c.name)].action != Action::apply)
      continue;
    if (!c.dropped_columns.empty()) {
      std::string lost = TS_TRY(local_edits_of(c.name, c.dropped_columns));
      ConflictDecision decision =
          lost.empty() ? ConflictDecision::take_theirs : decide(ConflictKind::dropped_column);
      if (decision == ConflictDecision::hold) {
        // The table stays as the working copy has it, held as a whole: neither its migration nor its rows
        // are merged, and push leaves it out, until `resolve`.
        hold_whole_table(c.name, ConflictKind::dropped_column,
                         fmt::format("the remote dropped column(s) {} which the working copy "
                                     "changed ({})",
                                     join_names(c.dropped_columns), lost));
        for (const SchemaChange& other : m_delta.schema)
          if (same_identifier(other.table, c.name) || same_identifier(other.name, c.name))
            decisions[object_key(other.object_type, other.name)].action = Action::skip;
        continue;
      }
      // Keeping ours would need the table half migrated: only taking theirs (or holding it) settles it.
      if (decision != ConflictDecision::take_theirs)
        conflicts.push_back(
            fmt::format("table {}: the remote dropped column(s) {} which the working copy "
                        "changed ({})",
                        printable(c.name), join_names(c.dropped_columns), lost));
      else if (!lost.empty())
        saved += TS_TRY(dump_table_sql(m_db, c.name, "dropped columns " + join_names(c.dropped_columns)));
    }
  }
  return decisions;
}

Result<std::optional<std::string>> Merger::object_sql(db::Database& db, const std::string& type,
                                                      const std::string& name) {
  auto stmt = TS_TRY(db.prepare(
      "SELECT sql FROM sqlite_schema WHERE type = ?1 AND name = ?2 COLLATE NOCASE AND sql IS NOT NULL"));
  TS_TRY_STATUS(stmt.bind(1, Value::text(type)));
  TS_TRY_STATUS(stmt.bind(2, Value::text(name)));
  if (!TS_TRY(stmt.step())) return std::optional<std::string>();
  return std::optional<std::string>(stmt.column_text(0));
}

Result<std::string> Merger::object_meaning(db::Database& db, const std::string& type,
                                           const std::string& name) {
  if (type == "pragma") return std::to_string(TS_TRY(db::query_int(db, "PRAGMA main.user_version")));
  if (type == "table") return TS_TRY(diff::read_table_meaning(db, "main", name)).text();
  auto sql = TS_TRY(object_sql(db, type, name));
  if (!sql) return std::string();
  std::string n = diff::normalize_sql(*sql);
  if (type == "index")  // the server lower-cases names in what it rewrites; an index holds no text values
    for (char& c : n)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return n;
}

// The working copy's meaning of an object, views and triggers as they were before the merge set them aside.
Result<std::string> Merger::ours_meaning(const std::string& type, const std::string& name) {
  if (!derived_type(type)) return object_meaning(m_db, type, name);
  auto it = m_derived_ours.find(object_key(type, name));
  return it == m_derived_ours.end() ? std::string() : diff::normalize_sql(it->second);
}

std::string Merger::describe_object(const SchemaChange& c) {
  if (c.object_type == "pragma") return "PRAGMA user_version";
  return fmt::format("{} {}", c.object_type, printable(c.name));
}

std::string Merger::describe_state(const std::string& meaning, const char* changed) {
  return meaning.empty() ? "dropped it" : changed;
}

// Lower-cased column names of `table` in `db`, in declaration order (none when it has no such table).
Result<std::vector<std::string>> Merger::column_names(db::Database& db, const std::string& table) {
  std::vector<std::string> out;
  auto stmt = TS_TRY(db.prepare("SELECT lower(name) FROM pragma_table_xinfo(?1) ORDER BY cid"));
  TS_TRY_STATUS(stmt.bind(1, Value::text(table)));
  while (TS_TRY(stmt.step())) out.push_back(stmt.column_text(0));
  return out;
}

// For a table both sides changed: the working copy's own additions the remote's definition has no place
// for (columns it added that theirs lacks, and its indexes and triggers on the table that use them), as
// "; taking the remote's would drop your column due and index notes_due (saved), and leave your trigger
// notes_due_log naming a column that is gone"; "" when none.
Result<std::string> Merger::local_additions_lost(const std::string& table, db::Database& base,
                                                 db::Database& theirs) {
  std::vector<std::string> ours_cols = TS_TRY(column_names(m_db, table));
  std::vector<std::string> base_cols = TS_TRY(column_names(base, table));
  std::vector<std::string> theirs_cols = TS_TRY(column_names(theirs, table));
  auto has = [](const std::vector<std::string>& v, const std::string& n) {
    return std::find(v.begin(), v.end(), n) != v.end();
  };
  std::vector<std::string> lost;
  for (const std::string& col : ours_cols)
    if (!has(base_cols, col) && !has(theirs_cols, col)) lost.push_back(col);
  if (lost.empty()) return std::string();
  auto uses_lost = [&](const std::string& sql) {
    return std::any_of(lost.begin(), lost.end(),
                       [&](const std::string& col) { return diff::refers_to(sql, col); });
  };
  std::string indexes_lost, triggers_broken;
  auto indexes = TS_TRY(
      m_db.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?1 COLLATE "
                   "NOCASE AND sql IS NOT NULL ORDER BY name"));
  TS_TRY_STATUS(indexes.bind(1, Value::text(table)));
  while (TS_TRY(indexes.step()))
    if (uses_lost(indexes.column_text(1)))
      indexes_lost += (indexes_lost.empty() ? "" : ", ") + printable(indexes.column_text(0));
  for (const DerivedObject& o : m_set_aside)
    if (o.type == "trigger" && sqlite3_stricmp(o.table.c_str(), table.c_str()) == 0 && uses_lost(o.sql))
      triggers_broken += (triggers_broken.empty() ? "" : ", ") + printable(o.name);
  std::string out = fmt::format("; taking the remote's would drop your column{} {}",
                                lost.size() == 1 ? "" : "s", join_names(lost));
  if (!indexes_lost.empty()) out += " and index " + indexes_lost + " on it (saved)";
  if (!triggers_broken.empty())
    out += ", and leave your trigger " + triggers_broken + " naming a column that is gone";
  return out;
}

std::string Merger::join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + printable(n);
  return out;
}

// Rows of `table` where the working copy's values of `columns` differ from the base's (local edits, and
// local inserts with a non-NULL value there): "" when none, else a short list of keys.
Result<std::string> Merger::local_edits_of(const std::string& table,
                                           const std::vector<std::string>& columns) {
  db::Database* base = TS_TRY(base_db());
  db::TableInfo info = TS_TRY(db::read_table_info(m_db, table));
  std::string key;
  if (info.without_rowid) {
    for (int k : info.key_columns) key += (key.empty() ? "" : ", ") + quote_identifier(info.columns[k].name);
  } else {
    if (info.rowid_expr.empty()) return std::string();
    key = info.rowid_expr;
  }
  std::string cols, where;
  for (const std::string& c : columns) cols += ", " + quote_identifier(c);
  int nkey = info.without_rowid ? static_cast<int>(info.key_columns.size()) : 1;
  for (int i = 0; i < nkey; ++i) {
    std::string name = info.without_rowid ? quote_identifier(info.columns[info.key_columns[i]].name) : key;
    where += fmt::format("{}{} = ?{}", i ? " AND " : "", name, i + 1);
  }
  auto ours = TS_TRY(m_db.prepare(fmt::format("SELECT {}{} FROM {}", key, cols, quote_identifier(table))));
  auto lookup =
      base->prepare(fmt::format("SELECT 1{} FROM {} WHERE {}", cols, quote_identifier(table), where));
  if (!lookup.ok()) return std::string();  // the base has no such table or columns: nothing to compare
  db::Statement b = std::move(lookup).value();
  // A local insert loses nothing when its value is NULL or the column's DEFAULT.
  std::vector<Value> defaults;
  for (const std::string& c : columns) {
    Value d = Value::null();
    for (const db::Column& col : info.columns) {
      if (sqlite3_stricmp(col.name.c_str(), c.c_str()) != 0 || !col.default_sql) continue;
      auto eval = m_db.prepare("SELECT " + *col.default_sql);
      if (eval.ok() && TS_TRY(eval->step())) d = eval->column(0);
    }
    defaults.push_back(std::move(d));
  }
  std::vector<std::string> keys;
  size_t count = 0;
  while (TS_TRY(ours.step())) {
    std::vector<Value> k;
    for (int i = 0; i < nkey; ++i) k.push_back(ours.column(i));
    TS_TRY_STATUS(b.reset());
    for (int i = 0; i < nkey; ++i) TS_TRY_STATUS(b.bind(i + 1, k[static_cast<size_t>(i)]));
    bool found = TS_TRY(b.step());
    bool differs = false;
    for (int i = nkey; i < ours.column_count(); ++i)
      differs |= found
                     ? ours.column(i) != b.column(i - nkey + 1)
                     : !ours.column(i).is_null() && ours.column(i) != defaults[static_cast<size_t>(i - nkey)];
    if (!differs) continue;
    if (++count <= 5) keys.push_back(describe_key(k));
  }
  if (count == 0) return std::string();
  std::string out = fmt::format("{} row{}: ", count, count == 1 ? "" : "s");
  for (size_t i = 0; i < keys.size(); ++i) out += (i ? ", " : "") + keys[i];
  return count > keys.size() ? out + ", …" : out;
}

}  // namespace turso_sync::merge
