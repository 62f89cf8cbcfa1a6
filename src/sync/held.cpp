#include "sync/held.h"

#include <fmt/format.h>
#include <simdjson.h>
#include <sqlite3.h>

#include <algorithm>
#include <cinttypes>
#include <cstdlib>
#include <cstring>

#include "db/schema.h"
#include "diff/schema_plan.h"
#include "util/fs.h"
#include "util/json_writer.h"
#include "util/text.h"

namespace turso_sync {

bool same_table(const std::string& a, const std::string& b) {
  return sqlite3_stricmp(a.c_str(), b.c_str()) == 0;
}

namespace {

std::string json_text(const std::string& s) {
  return is_valid_utf8(s) ? s : printable(s);
}

void write_row(JsonWriter& w, const char* name, const std::vector<Value>& row) {
  w.key(name).begin_array();
  for (const Value& v : row) w.string(encode_held_value(v));
  w.end_array();
}

void write_strings(JsonWriter& w, const char* name, const std::vector<std::string>& items) {
  w.key(name).begin_array();
  for (const std::string& s : items) w.string(json_text(s));
  w.end_array();
}

// Applies theirs' non-conflicting columns to ours, as the merge does for an update/update it keeps.
std::vector<Value> ours_after_merge(const MergeConflict& c) {
  if (c.kind != "update/update" || c.ours.size() != c.base.size() || c.theirs.size() != c.base.size())
    return c.ours;
  std::vector<Value> out = c.ours;
  for (size_t i = 0; i < out.size(); ++i)
    if (c.ours[i] == c.base[i]) out[i] = c.theirs[i];
  return out;
}

}  // namespace

std::string held_file(const std::string& state_dir) {
  return state_dir + "/conflicts.json";
}

std::string encode_held_value(const Value& v) {
  switch (v.type()) {
    case ValueType::null:
      return "n";
    case ValueType::integer:
      return fmt::format("i:{}", v.as_integer());
    case ValueType::real: {
      double d = v.as_real();
      uint64_t bits = 0;
      std::memcpy(&bits, &d, sizeof bits);
      return fmt::format("r:{:016x}", bits);
    }
    case ValueType::text:
      return "t:" + base64_encode(v.as_bytes());
    case ValueType::blob:
      return "b:" + base64_encode(v.as_bytes());
  }
  return "n";
}

std::optional<Value> decode_held_value(const std::string& text) {
  if (text == "n") return Value::null();
  if (text.size() < 2 || text[1] != ':') return std::nullopt;
  std::string body = text.substr(2);
  switch (text[0]) {
    case 'i': {
      if (body.empty()) return std::nullopt;
      char* end = nullptr;
      errno = 0;
      long long v = std::strtoll(body.c_str(), &end, 10);
      if (errno != 0 || *end != '\0') return std::nullopt;
      return Value::integer(v);
    }
    case 'r': {
      if (body.size() != 16) return std::nullopt;
      char* end = nullptr;
      uint64_t bits = std::strtoull(body.c_str(), &end, 16);
      if (*end != '\0') return std::nullopt;
      double d = 0;
      std::memcpy(&d, &bits, sizeof d);
      return Value::real(d);
    }
    case 't':
    case 'b': {
      auto bytes = base64_decode(body);
      if (!bytes) return std::nullopt;
      return text[0] == 't' ? Value::text(std::move(*bytes)) : Value::blob(std::move(*bytes));
    }
    default:
      return std::nullopt;
  }
}

std::string held_to_json(const std::vector<HeldConflict>& held) {
  JsonWriter w;
  w.begin_object().key("version").integer(1).key("conflicts").begin_array();
  for (const HeldConflict& c : held) {
    w.begin_object().key("table").string(json_text(c.table));
    w.key("keyed_by_rowid").boolean(c.keyed_by_rowid);
    write_strings(w, "key_names", c.key_names);
    write_row(w, "key", c.key);
    w.key("kind").string(c.kind);
    write_strings(w, "columns", c.columns);
    write_row(w, "base", c.base);
    write_row(w, "ours", c.ours);
    write_row(w, "theirs", c.theirs);
    w.key("conflicting_columns").begin_array();
    for (int i : c.conflicting_columns) w.integer(i);
    w.end_array();
    if (!c.about.empty()) w.key("about").string(json_text(c.about));
    w.key("since").string(c.since).key("theirs_changed_at").string(c.theirs_changed_at);
    w.key("ours_changed_at").string(c.ours_changed_at).end_object();
  }
  w.end_array().end_object();
  return w.take() + "\n";
}

Result<std::vector<HeldConflict>> held_from_json(const std::string& text, const std::string& path) {
  auto bad = [&](const std::string& why) {
    return Error(
        ErrorKind::local_db,
        fmt::format("read held conflicts {}: {}; restore it from a backup, or delete it (the rows it "
                    "holds would then be pushed as local changes)",
                    path, why));
  };
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(text).get(root) != simdjson::SUCCESS || !root.is_object()) return bad("not valid JSON");
  simdjson::dom::array list;
  if (root["conflicts"].get(list) != simdjson::SUCCESS) return bad("no \"conflicts\" array");
  std::vector<HeldConflict> out;
  for (simdjson::dom::element item : list) {
    HeldConflict c;
    auto str = [&](const char* key) -> std::string {
      std::string_view v;
      return item[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
    };
    auto strings = [&](const char* key, std::vector<std::string>& dst) -> bool {
      simdjson::dom::array a;
      if (item[key].get(a) != simdjson::SUCCESS) return false;
      for (simdjson::dom::element e : a) {
        std::string_view v;
        if (e.get(v) != simdjson::SUCCESS) return false;
        dst.emplace_back(v);
      }
      return true;
    };
    auto row = [&](const char* key, std::vector<Value>& dst) -> bool {
      std::vector<std::string> texts;
      if (!strings(key, texts)) return false;
      for (const std::string& t : texts) {
        auto v = decode_held_value(t);
        if (!v) return false;
        dst.push_back(std::move(*v));
      }
      return true;
    };
    c.table = str("table");
    bool rowid = false;
    if (item["keyed_by_rowid"].get(rowid) != simdjson::SUCCESS) return bad("an entry lacks keyed_by_rowid");
    c.keyed_by_rowid = rowid;
    c.kind = str("kind");
    if (c.table.empty() || !strings("key_names", c.key_names) || !row("key", c.key) ||
        !strings("columns", c.columns) || !row("base", c.base) || !row("ours", c.ours) ||
        !row("theirs", c.theirs))
      return bad(fmt::format("an entry of table '{}' is incomplete", printable(c.table)));
    simdjson::dom::array cols;
    if (item["conflicting_columns"].get(cols) == simdjson::SUCCESS)
      for (simdjson::dom::element e : cols) {
        int64_t i = 0;
        if (e.get(i) == simdjson::SUCCESS) c.conflicting_columns.push_back(static_cast<int>(i));
      }
    c.about = str("about");
    c.since = str("since");
    c.theirs_changed_at = str("theirs_changed_at");
    c.ours_changed_at = str("ours_changed_at");
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<HeldConflict>> load_held(const std::string& state_dir) {
  std::string path = held_file(state_dir);
  if (!file_exists(path)) return std::vector<HeldConflict>();
  std::string text = TS_TRY(read_file(path));
  return held_from_json(text, path);
}

Status save_held(const std::string& state_dir, const std::vector<HeldConflict>& held) {
  TS_TRY_STATUS(make_dirs(state_dir));
  return atomic_write_file(held_file(state_dir), held_to_json(held), 0600);
}

bool is_held(const std::vector<HeldConflict>& held, const std::string& table, const std::vector<Value>& key) {
  for (const HeldConflict& c : held)
    if ((c.key == key || c.key.empty()) && same_table(c.table, table)) return true;
  return false;
}

bool holds_table(const std::vector<HeldConflict>& held, const std::string& table) {
  for (const HeldConflict& c : held)
    if (c.key.empty() && same_table(c.table, table)) return true;
  return false;
}

namespace {

// The base of a held row is the last state both sides agreed on, column by column: where ours and theirs
// are equal now, that value. A column both sides changed differently since then is in dispute, also when
// that happened while the row was held (the application and a teammate each wrote it again): `conflicts`
// shows it, and `resolve` decides it. Returns whether the record changed.
bool note_agreed_columns(HeldConflict& c) {
  if (c.ours.size() != c.theirs.size() || c.base.size() != c.ours.size()) return false;
  bool changed = false;
  for (size_t i = 0; i < c.base.size(); ++i) {
    if (c.ours[i] == c.theirs[i] && c.base[i] != c.theirs[i]) {
      c.base[i] = c.theirs[i];
      changed = true;
    }
    int column = static_cast<int>(i);
    if (c.ours[i] != c.theirs[i] && c.ours[i] != c.base[i] && c.theirs[i] != c.base[i] &&
        std::find(c.conflicting_columns.begin(), c.conflicting_columns.end(), column) ==
            c.conflicting_columns.end()) {
      c.conflicting_columns.insert(
          std::upper_bound(c.conflicting_columns.begin(), c.conflicting_columns.end(), column), column);
      changed = true;
    }
  }
  return changed;
}

// The stored column names of `table` in `db`; nullopt when the table does not exist there.
Result<std::optional<std::vector<std::string>>> table_columns(db::Database& db, const std::string& table) {
  auto stmt = TS_TRY(db.prepare("SELECT name FROM pragma_table_info(?1)"));
  TS_TRY_STATUS(stmt.bind(1, Value::text(table)));
  std::vector<std::string> out;
  while (TS_TRY(stmt.step())) out.push_back(stmt.column_text(0));
  if (out.empty()) return std::optional<std::vector<std::string>>();
  return std::optional<std::vector<std::string>>(std::move(out));
}

bool has_column(const std::vector<std::string>& columns, const std::string& name) {
  return std::any_of(columns.begin(), columns.end(),
                     [&](const std::string& c) { return sqlite3_stricmp(c.c_str(), name.c_str()) == 0; });
}

std::vector<std::string> column_names(const std::vector<ColumnDesc>& columns) {
  std::vector<std::string> out;
  for (const ColumnDesc& c : columns) out.push_back(c.name);
  return out;
}

// The record follows a migration both sides now have (a teammate's, pulled): a column gone from both is
// no longer in dispute and leaves the record; a column both have that the record lacks joins it (its base
// is then theirs: nothing disputed it). Renames were followed by the merge (fold_merge_into_held). Returns
// whether the record changed.
Result<bool> follow_schema(db::Database& working, db::Database& replica, HeldConflict& c) {
  auto ours = TS_TRY(table_columns(working, c.table));
  auto theirs = TS_TRY(table_columns(replica, c.table));
  if (!ours || !theirs) return false;
  bool changed = false;
  for (size_t i = c.columns.size(); i-- > 0;) {
    if (has_column(*ours, c.columns[i]) || has_column(*theirs, c.columns[i])) continue;
    c.columns.erase(c.columns.begin() + static_cast<std::ptrdiff_t>(i));
    for (auto* row : {&c.base, &c.ours, &c.theirs})
      if (row->size() > i) row->erase(row->begin() + static_cast<std::ptrdiff_t>(i));
    std::vector<int> kept;
    for (int k : c.conflicting_columns)
      if (k != static_cast<int>(i)) kept.push_back(k > static_cast<int>(i) ? k - 1 : k);
    c.conflicting_columns = std::move(kept);
    changed = true;
  }
  for (const std::string& name : *theirs) {
    if (has_column(c.columns, name) || !has_column(*ours, name)) continue;
    c.columns.push_back(name);
    changed = true;
  }
  return changed;
}

}  // namespace

bool fold_merge_into_held(std::vector<HeldConflict>& held, const MergeReport& merge, const Changeset& delta,
                          ConflictPolicy policy) {
  bool changed = false;
  std::string now = utc_timestamp();
  // Columns the delta renames (a teammate's RENAME COLUMN): the record follows them.
  for (const SchemaChange& sc : delta.schema)
    for (const auto& [from, to] : sc.renamed_columns)
      for (HeldConflict& c : held)
        if (same_table(c.table, sc.table))
          for (std::string& col : c.columns)
            if (sqlite3_stricmp(col.c_str(), from.c_str()) == 0 && col != to) {
              col = to;
              changed = true;
            }
  for (const MergeConflict& r : merge.held_rows) {
    auto it = std::find_if(held.begin(), held.end(), [&](const HeldConflict& c) {
      return c.key == r.key && same_table(c.table, r.table);
    });
    if (it == held.end()) continue;
    if (r.ours == r.theirs) {  // both sides agree now: nothing to settle
      held.erase(it);
      changed = true;
      continue;
    }
    if (it->theirs != r.theirs) {
      it->theirs = r.theirs;
      it->theirs_changed_at = now;
      changed = true;
    }
    if (it->ours != r.ours) {
      it->ours = r.ours;
      it->ours_changed_at = now;
      changed = true;
    }
    for (int c : r.conflicting_columns)  // theirs' columns the merge could not take (merge.h)
      if (std::find(it->conflicting_columns.begin(), it->conflicting_columns.end(), c) ==
          it->conflicting_columns.end()) {
        it->conflicting_columns.insert(
            std::upper_bound(it->conflicting_columns.begin(), it->conflicting_columns.end(), c), c);
        changed = true;
      }
    changed |= note_agreed_columns(*it);
  }
  if (policy != ConflictPolicy::hold) return changed;
  for (const MergeConflict& m : merge.conflicts) {
    if (is_held(held, m.table, m.key)) continue;
    HeldConflict c;
    c.table = m.table;
    c.key = m.key;
    c.kind = m.kind;
    c.columns = m.columns;
    c.base = m.base;
    c.ours = ours_after_merge(m);
    c.theirs = m.theirs;
    c.conflicting_columns = m.conflicting_columns;
    c.about = m.about;
    c.since = now;
    note_agreed_columns(c);
    c.keyed_by_rowid = m.keyed_by_rowid;
    c.key_names = m.key_names;
    for (const TableChanges& tc : delta.tables) {
      if (!m.key_names.empty()) break;
      if (!same_table(tc.table.name, m.table)) continue;
      c.keyed_by_rowid = tc.table.keyed_by_rowid();
      if (c.keyed_by_rowid) {
        c.key_names.push_back(tc.table.rowid_alias >= 0 ? tc.table.columns[tc.table.rowid_alias].name
                                                        : std::string("rowid"));
      } else {
        for (int k : tc.table.key_columns)
          c.key_names.push_back(tc.table.columns[static_cast<size_t>(k)].name);
      }
      break;
    }
    held.push_back(std::move(c));
    changed = true;
  }
  return changed;
}

std::string held_rowid_expression(const HeldConflict& c) {
  // key_names holds the alias column when the table has one (else "rowid", which is then no column's name
  // unless every rowid name is shadowed: a table the merge refuses, so no conflict is ever held on it).
  std::string alias;
  if (c.key_names.size() == 1 && std::any_of(c.columns.begin(), c.columns.end(), [&](const std::string& col) {
        return sqlite3_stricmp(col.c_str(), c.key_names[0].c_str()) == 0;
      }))
    alias = c.key_names[0];
  return db::rowid_expression(c.columns, alias);
}

Result<std::vector<std::string>> working_columns(db::Database& working, db::Database& replica,
                                                 const HeldConflict& c) {
  auto ours = diff::read_table_desc(working, "main", c.table);
  auto theirs = diff::read_table_desc(replica, "main", c.table);
  if (!ours.ok() || !theirs.ok()) return c.columns;
  std::vector<std::string> sources = diff::column_sources(theirs->columns, ours->columns);
  std::vector<std::string> out;
  for (const std::string& name : c.columns) {
    std::string mapped;
    for (size_t j = 0; j < sources.size() && j < ours->columns.size(); ++j)
      if (sqlite3_stricmp(sources[j].c_str(), name.c_str()) == 0) mapped = ours->columns[j].name;
    // A column of the record that the replica lacks (a generated one, say) keeps its name.
    if (mapped.empty() && !has_column(column_names(theirs->columns), name)) mapped = name;
    out.push_back(mapped);
  }
  return out;
}

Result<std::optional<std::vector<Value>>> read_held_row(db::Database& db, const HeldConflict& c,
                                                        const std::vector<std::string>* columns) {
  const std::vector<std::string>& names = columns ? *columns : c.columns;
  std::string cols;
  for (const std::string& col : names) {
    if (col.empty())
      return Error(ErrorKind::local_db, fmt::format("read held row of table {} in {}: a column of the record "
                                                    "is gone",
                                                    printable(c.table), db.path()));
    cols += (cols.empty() ? "" : ", ") + quote_identifier(col);
  }
  std::string where;
  if (c.keyed_by_rowid) {
    where = held_rowid_expression(c) + " = ?";
  } else {
    for (const std::string& k : c.key_names)
      where += fmt::format("{}{} = ?", where.empty() ? "" : " AND ", quote_identifier(k));
  }
  auto prepared = db.prepare(
      fmt::format("SELECT {} FROM {} WHERE {}", cols.empty() ? "1" : cols, quote_identifier(c.table), where));
  if (!prepared.ok())
    return prepared.error().context(
        fmt::format("read held row of table {} in {}", printable(c.table), db.path()));
  db::Statement st = std::move(prepared).value();
  TS_TRY_STATUS(st.bind_all(c.key));
  if (!TS_TRY(st.step())) return std::optional<std::vector<Value>>();
  std::vector<Value> row;
  for (size_t i = 0; i < c.columns.size(); ++i) row.push_back(st.column(static_cast<int>(i)));
  return std::optional<std::vector<Value>>(std::move(row));
}

Result<bool> refresh_held(const Config& config, std::vector<HeldConflict>& held) {
  if (held.empty()) return false;
  db::Database working = TS_TRY(db::Database::open(config.working_path, db::OpenMode::read_only));
  db::Database replica = TS_TRY(db::Database::open(config.replica_path, db::OpenMode::read_only));
  bool changed = false;
  std::string now = utc_timestamp();
  for (auto it = held.begin(); it != held.end();) {
    if (it->key.empty()) {  // a table held as a whole: settled once neither side has it
      if (!TS_TRY(table_columns(working, it->table)) && !TS_TRY(table_columns(replica, it->table))) {
        it = held.erase(it);
        changed = true;
      } else {
        ++it;
      }
      continue;
    }
    if (TS_TRY(follow_schema(working, replica, *it))) changed = true;
    std::vector<std::string> local_names = TS_TRY(working_columns(working, replica, *it));
    auto ours = read_held_row(working, *it, &local_names);
    auto theirs = read_held_row(replica, *it);
    if (!ours.ok() && !theirs.ok()) {  // the table is gone on both sides: nothing left to hold
      it = held.erase(it);
      changed = true;
      continue;
    }
    if (!ours.ok() || !theirs.ok()) {  // gone on one side (a schema change): keep the record as it is
      ++it;
      continue;
    }
    std::vector<Value> o = ours->value_or(std::vector<Value>());
    std::vector<Value> t = theirs->value_or(std::vector<Value>());
    // A column that joined the record (follow_schema) starts from theirs.
    while (!it->base.empty() && it->base.size() < it->columns.size() && t.size() == it->columns.size())
      it->base.push_back(t[it->base.size()]);
    if (o == t) {
      it = held.erase(it);
      changed = true;
      continue;
    }
    if (o != it->ours) {
      it->ours = std::move(o);
      it->ours_changed_at = now;
      changed = true;
    }
    if (t != it->theirs) {
      it->theirs = std::move(t);
      it->theirs_changed_at = now;
      changed = true;
    }
    changed |= note_agreed_columns(*it);
    ++it;
  }
  return changed;
}

HeldConflict held_push_row(const TableDesc& t, const RowChange& row, const std::string& kind) {
  HeldConflict h;
  h.table = t.name;
  h.keyed_by_rowid = t.keyed_by_rowid();
  if (h.keyed_by_rowid) {
    h.key_names.push_back(t.rowid_alias >= 0 ? t.columns[static_cast<size_t>(t.rowid_alias)].name
                                             : std::string("rowid"));
  } else {
    for (int k : t.key_columns) h.key_names.push_back(t.columns[static_cast<size_t>(k)].name);
  }
  h.key = row.key;
  h.kind = kind;
  for (const ColumnDesc& c : t.columns) h.columns.push_back(c.name);
  if (row.op != RowOp::insert) h.base = h.theirs = row.old_values;
  if (row.op != RowOp::remove) h.ours = row.new_values;
  h.since = utc_timestamp();
  return h;
}

Result<int64_t> exclude_held(Changeset& changeset, DiffSummary& summary,
                             const std::vector<HeldConflict>& held) {
  if (held.empty()) return 0;
  // A table held as a whole: none of its schema changes (its creation, its indexes and triggers) go out.
  auto held_object = [&](const SchemaChange& c) {
    return holds_table(held, c.table) || holds_table(held, c.name);
  };
  changeset.schema.erase(std::remove_if(changeset.schema.begin(), changeset.schema.end(), held_object),
                         changeset.schema.end());
  summary.schema.erase(std::remove_if(summary.schema.begin(), summary.schema.end(), held_object),
                       summary.schema.end());
  changeset.triggers.erase(std::remove_if(changeset.triggers.begin(), changeset.triggers.end(),
                                          [&](const TriggerDef& t) { return holds_table(held, t.table); }),
                           changeset.triggers.end());
  for (TableSummary& ts : summary.tables)
    if (holds_table(held, ts.name)) ts.schema_ops.clear();
  return exclude_rows(changeset, summary, [&](const std::string& table, const std::vector<Value>& key) {
    return is_held(held, table, key);
  });
}

Result<int64_t> exclude_rows(
    Changeset& changeset, DiffSummary& summary,
    const std::function<bool(const std::string& table, const std::vector<Value>& key)>& leave_out) {
  int64_t skipped = 0;
  for (auto tc = changeset.tables.begin(); tc != changeset.tables.end();) {
    TableCounts removed;
    auto& rows = tc->rows;
    TS_TRY_STATUS(rows.retain([&](const RowChange& r) {
      if (!leave_out(tc->table.name, r.key)) return true;
      (r.op == RowOp::insert ? removed.inserts : r.op == RowOp::update ? removed.updates : removed.deletes)++;
      return false;
    }));
    skipped += removed.total();
    tc->counts.inserts -= removed.inserts;
    tc->counts.updates -= removed.updates;
    tc->counts.deletes -= removed.deletes;
    for (TableSummary& ts : summary.tables)
      if (same_table(ts.name, tc->table.name)) {
        ts.counts.inserts -= removed.inserts;
        ts.counts.updates -= removed.updates;
        ts.counts.deletes -= removed.deletes;
      }
    summary.totals.inserts -= removed.inserts;
    summary.totals.updates -= removed.updates;
    summary.totals.deletes -= removed.deletes;
    if (rows.empty())
      tc = changeset.tables.erase(tc);
    else
      ++tc;
  }
  summary.tables.erase(
      std::remove_if(summary.tables.begin(), summary.tables.end(),
                     [](const TableSummary& t) { return t.counts.total() == 0 && t.schema_ops.empty(); }),
      summary.tables.end());
  return skipped;
}

std::string key_as_text(const std::vector<Value>& key) {
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) {
    if (i) out += ",";
    const Value& v = key[i];
    switch (v.type()) {
      case ValueType::null:
        out += "NULL";
        break;
      case ValueType::integer:
        out += std::to_string(v.as_integer());
        break;
      case ValueType::real:
        out += format_real(v.as_real());
        break;
      case ValueType::text:
        out += v.as_bytes();
        break;
      case ValueType::blob:
        out += "X'" + to_hex(v.as_bytes()) + "'";
        break;
    }
  }
  return out;
}

}  // namespace turso_sync
