#include "diff/schema_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "db/schema.h"
#include "diff/sql_text.h"
#include "util/text.h"

namespace turso_sync::diff {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string qualified(std::string_view schema, std::string_view name) {
  return quote_identifier(schema) + "." + quote_identifier(name);
}

struct SchemaObjects {
  std::vector<ObjectDef> objects;         // sqlite_schema order
  std::map<std::string, size_t> by_name;  // lower-cased name -> index
  const ObjectDef* find(std::string_view name) const {
    auto it = by_name.find(lower(name));
    return it == by_name.end() ? nullptr : &objects[it->second];
  }
};

// User objects of `schema`; virtual tables and their shadow tables are left out with a warning.
Result<SchemaObjects> read_objects(db::Database& db, const std::string& schema,
                                   std::vector<std::string>* warnings) {
  std::set<std::string> skipped;
  {
    auto stmt =
        TS_TRY(db.prepare("SELECT name, type FROM pragma_table_list WHERE schema = ?1 AND type IN "
                          "('virtual', 'shadow')"));
    TS_TRY_STATUS(stmt.bind(1, Value::text(schema)));
    while (TS_TRY(stmt.step())) {
      std::string name = stmt.column_text(0);
      if (db::is_internal_name(name)) continue;
      skipped.insert(lower(name));
      if (schema == k_target_schema)
        warnings->push_back(fmt::format("{} table {} is not compared (virtual tables are not supported)",
                                        stmt.column_text(1), name));
    }
  }
  auto stmt = TS_TRY(db.prepare(fmt::format(
      "SELECT type, name, tbl_name, sql FROM {}.sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid",
      quote_identifier(schema))));
  SchemaObjects out;
  while (TS_TRY(stmt.step())) {
    ObjectDef o{stmt.column_text(0), stmt.column_text(1), stmt.column_text(2), stmt.column_text(3), {}};
    if (db::is_internal_name(o.name) || db::is_internal_name(o.tbl_name)) continue;
    if (skipped.count(lower(o.name)) || skipped.count(lower(o.tbl_name))) continue;
    o.normalized = normalize_sql(o.sql);
    out.by_name[lower(o.name)] = out.objects.size();
    out.objects.push_back(std::move(o));
  }
  return out;
}

SchemaChange make_change(SchemaOp op, SchemaReason reason, const ObjectDef& o) {
  SchemaChange c;
  c.op = op;
  c.reason = reason;
  c.object_type = o.type;
  c.name = o.name;
  c.table = o.tbl_name;
  return c;
}

SchemaChange drop_change(const ObjectDef& o, SchemaReason reason) {
  static const std::map<std::string, SchemaOp> ops = {{"table", SchemaOp::drop_table},
                                                      {"index", SchemaOp::drop_index},
                                                      {"view", SchemaOp::drop_view},
                                                      {"trigger", SchemaOp::drop_trigger}};
  SchemaChange c = make_change(ops.at(o.type), reason, o);
  c.old_sql = o.sql;
  std::string keyword = o.type;
  for (char& ch : keyword) ch = static_cast<char>(ch - 'a' + 'A');
  c.statements.push_back(fmt::format("DROP {} {}", keyword, quote_identifier(o.name)));
  return c;
}

SchemaChange create_change(const ObjectDef& o, SchemaReason reason) {
  static const std::map<std::string, SchemaOp> ops = {{"table", SchemaOp::create_table},
                                                      {"index", SchemaOp::create_index},
                                                      {"view", SchemaOp::create_view},
                                                      {"trigger", SchemaOp::create_trigger}};
  SchemaChange c = make_change(ops.at(o.type), reason, o);
  c.new_sql = o.sql;
  c.statements.push_back(o.sql);
  return c;
}

// Whether `target` is `base` with column definitions appended; fills the appended definitions.
bool is_appended_columns(const ObjectDef& base, const ObjectDef& target, std::vector<std::string>* added) {
  TableDefinition b, t;
  if (!parse_table_definition(base.sql, &b) || !parse_table_definition(target.sql, &t)) return false;
  if (t.items.size() <= b.items.size() || normalize_sql(b.options) != normalize_sql(t.options)) return false;
  size_t bn, be, tn, te;
  if (!find_created_name(base.sql, &bn, &be) || !find_created_name(target.sql, &tn, &te)) return false;
  if (normalize_sql(std::string_view(base.sql).substr(0, be)) !=
      normalize_sql(std::string_view(target.sql).substr(0, te)))
    return false;
  for (size_t i = 0; i < b.items.size(); ++i)
    if (normalize_sql(b.items[i]) != normalize_sql(t.items[i])) return false;
  added->clear();
  for (size_t i = b.items.size(); i < t.items.size(); ++i) {
    if (!t.item_is_column[i] || !can_add_column(t.items[i])) return false;
    added->push_back(t.items[i]);
  }
  return true;
}

class Planner {
 public:
  explicit Planner(db::Database& db) : m_db(db) {}

  Result<SchemaPlan> run() {
    m_base = TS_TRY(read_objects(m_db, k_base_schema, &m_plan.warnings));
    m_target = TS_TRY(read_objects(m_db, k_target_schema, &m_plan.warnings));
    TS_TRY_STATUS(plan_tables());
    plan_dependents();
    emit();
    for (const ObjectDef& t : m_target.objects)
      if (t.type == "trigger") m_plan.triggers.push_back(TriggerDef{t.name, t.tbl_name, t.sql});
    return std::move(m_plan);
  }

 private:
  const ObjectDef* base_of(const ObjectDef& t) const {
    const ObjectDef* b = m_base.find(t.name);
    return b && b->type == t.type ? b : nullptr;
  }
  const ObjectDef* target_of(const ObjectDef& b) const {
    const ObjectDef* t = m_target.find(b.name);
    return t && t->type == b.type ? t : nullptr;
  }

  Status plan_tables() {
    for (const ObjectDef& b : m_base.objects)
      if (b.type == "table" && !target_of(b)) m_dropped_tables.insert(lower(b.name));
    for (const ObjectDef& t : m_target.objects) {
      if (t.type != "table") continue;
      TablePlan plan;
      plan.target = TS_TRY(read_table_desc(m_db, k_target_schema, t.name));
      plan.constants.assign(plan.target.columns.size(), std::nullopt);
      plan.always_changed.assign(plan.target.columns.size(), false);
      const ObjectDef* b = base_of(t);
      if (!b) {
        m_created_tables.push_back(&t);
      } else if (b->normalized == t.normalized) {
        TS_TRY_STATUS(use_base_table(plan, *b, BaseRows::same_table));
      } else {
        std::vector<std::string> added;
        bool done = false;
        if (is_appended_columns(*b, t, &added)) done = TS_TRY(plan_add_columns(plan, *b, t, added));
        if (!done) TS_TRY_STATUS(plan_rebuild(plan, *b, t));
      }
      if (plan.target.key_kind == KeyKind::none)
        m_plan.warnings.push_back(fmt::format(
            "table {} has no PRIMARY KEY: rows are matched by rowid, which VACUUM may renumber", t.name));
      m_plan.tables.push_back(std::move(plan));
    }
    return {};
  }

  Status use_base_table(TablePlan& plan, const ObjectDef& b, BaseRows kind) {
    TableDesc base_desc = TS_TRY(read_table_desc(m_db, k_base_schema, b.name));
    plan.base_rows = kind;
    plan.base_table = qualified(k_base_schema, b.name);
    plan.base_rowid_expr = base_desc.rowid_expr;
    return {};
  }

  // ALTER TABLE ADD COLUMN, checked on a one-row probe table that also yields the value old rows get.
  Result<bool> plan_add_columns(TablePlan& plan, const ObjectDef& b, const ObjectDef& t,
                                const std::vector<std::string>& added) {
    std::string probe = fmt::format("turso_sync_probe_{}", m_counter++);
    std::string probe_q = qualified("temp", probe);
    TS_TRY_STATUS(m_db.exec(
        fmt::format("CREATE TABLE {}(\"turso_sync probe\"); INSERT INTO {} VALUES(1)", probe_q, probe_q)));
    size_t base_count = plan.target.columns.size() - added.size();
    for (size_t i = 0; i < added.size(); ++i) {
      if (!m_db.exec(fmt::format("ALTER TABLE {} ADD COLUMN {}", probe_q, added[i])).ok()) return false;
    }
    auto stmt = TS_TRY(m_db.prepare(fmt::format("SELECT * FROM {}", probe_q)));
    if (!TS_TRY(stmt.step())) return Error(ErrorKind::internal, "add-column probe returned no row");
    if (static_cast<size_t>(stmt.column_count()) != added.size() + 1) return false;
    for (size_t i = 0; i < added.size(); ++i)
      plan.constants[base_count + i] = stmt.column(static_cast<int>(i + 1));
    TS_TRY_STATUS(use_base_table(plan, b, BaseRows::added_columns));
    SchemaChange c = make_change(SchemaOp::add_column, SchemaReason::changed, t);
    c.old_sql = b.sql;
    c.new_sql = t.sql;
    c.added_columns = added;
    for (const std::string& def : added)
      c.statements.push_back(fmt::format("ALTER TABLE {} ADD COLUMN {}", quote_identifier(t.name), def));
    m_table_changes[lower(t.name)] = std::move(c);
    return true;
  }

  Status plan_rebuild(TablePlan& plan, const ObjectDef& b, const ObjectDef& t) {
    TableDesc base_desc = TS_TRY(read_table_desc(m_db, k_base_schema, b.name));
    const TableDesc& target = plan.target;
    std::vector<std::string> common;
    for (size_t i = 0; i < target.columns.size(); ++i) {
      const ColumnDesc& col = target.columns[i];
      bool in_base = std::any_of(base_desc.columns.begin(), base_desc.columns.end(),
                                 [&](const ColumnDesc& c) { return iequals(c.name, col.name); });
      if (in_base) {
        common.push_back(col.name);
      } else {
        std::string def = column_definition(t.sql, col.name);
        plan.always_changed[i] = has_volatile_default(def);
      }
    }
    // Keep rowids across the copy when both sides are rowid tables (unless the copied alias column carries
    // it).
    bool alias_copied =
        target.rowid_alias >= 0 && std::any_of(common.begin(), common.end(), [&](const std::string& n) {
          return iequals(n, target.columns[target.rowid_alias].name);
        });
    bool copy_rowid = !base_desc.without_rowid && !target.without_rowid && !alias_copied &&
                      !base_desc.rowid_expr.empty() && !target.rowid_expr.empty();
    auto copy_sql = [&](const std::string& into, const std::string& from) {
      std::string cols, sel;
      if (copy_rowid) {
        cols = target.rowid_expr;
        sel = base_desc.rowid_expr;
      }
      for (const std::string& n : common) {
        if (!cols.empty()) {
          cols += ", ";
          sel += ", ";
        }
        cols += quote_identifier(n);
        sel += quote_identifier(n);
      }
      return fmt::format("INSERT INTO {}({}) SELECT {} FROM {}", into, cols, sel, from);
    };
    // The projection: the base rows as the rebuild's copy step would leave them.
    std::string proj = fmt::format("turso_sync_rebuild_{}", m_counter++);
    std::string proj_q = qualified("temp", proj);
    TS_TRY_STATUS(m_db.exec(rename_created(t.sql, proj_q)));
    bool copy_rows = !common.empty() || copy_rowid;
    if (copy_rows) {
      copy_rows = m_db.exec(copy_sql(proj_q, qualified(k_base_schema, b.name))).ok();
      if (!copy_rows) TS_TRY_STATUS(m_db.exec(fmt::format("DELETE FROM {}", proj_q)));
    }
    plan.base_rows = BaseRows::projection;
    plan.base_table = proj_q;
    plan.base_rowid_expr = target.rowid_expr;

    SchemaChange c = make_change(SchemaOp::rebuild_table, SchemaReason::changed, t);
    c.old_sql = b.sql;
    c.new_sql = t.sql;
    c.copy_rows = copy_rows;
    if (copy_rows) c.copied_columns = common;
    std::string tmp = quote_identifier("turso_sync_new_" + t.name);
    c.statements.push_back(rename_created(t.sql, tmp));
    if (copy_rows) c.statements.push_back(copy_sql(tmp, quote_identifier(b.name)));
    c.statements.push_back(fmt::format("DROP TABLE {}", quote_identifier(b.name)));
    c.statements.push_back(fmt::format("ALTER TABLE {} RENAME TO {}", tmp, quote_identifier(t.name)));
    m_rebuilt_tables.insert(lower(t.name));
    m_table_changes[lower(t.name)] = std::move(c);
    return {};
  }

  // The raw definition of column `name` in a CREATE TABLE statement ("" when not found).
  static std::string column_definition(const std::string& sql, const std::string& name) {
    TableDefinition def;
    if (!parse_table_definition(sql, &def)) return "";
    for (size_t i = 0; i < def.items.size(); ++i) {
      if (!def.item_is_column[i]) continue;
      auto tokens = tokenize_sql(def.items[i]);
      if (!tokens.empty() && iequals(token_name(tokens[0]), name)) return def.items[i];
    }
    return "";
  }

  // Views, triggers and indexes that must be dropped and created again.
  void plan_dependents() {
    // Names whose objects disappear or are replaced during the schema change: dependents must go too.
    std::set<std::string> affected(m_rebuilt_tables.begin(), m_rebuilt_tables.end());
    affected.insert(m_dropped_tables.begin(), m_dropped_tables.end());
    for (const ObjectDef& b : m_base.objects) {
      if (b.type != "view") continue;
      const ObjectDef* t = target_of(b);
      if (!t)
        m_view_reason[lower(b.name)] = SchemaReason::removed;
      else if (t->normalized != b.normalized)
        m_view_reason[lower(b.name)] = SchemaReason::changed;
      if (m_view_reason.count(lower(b.name))) affected.insert(lower(b.name));
    }
    for (bool grew = true; grew;) {
      grew = false;
      for (const ObjectDef& b : m_base.objects) {
        if (b.type != "view" || m_view_reason.count(lower(b.name))) continue;
        if (refers_to_any(b.sql, affected)) {
          m_view_reason[lower(b.name)] = SchemaReason::dependent;
          affected.insert(lower(b.name));
          grew = true;
        }
      }
    }
    for (const ObjectDef& b : m_base.objects) {
      if (b.type != "trigger") continue;
      const ObjectDef* t = target_of(b);
      if (!t)
        m_trigger_reason[lower(b.name)] = SchemaReason::removed;
      else if (t->normalized != b.normalized || !iequals(t->tbl_name, b.tbl_name))
        m_trigger_reason[lower(b.name)] = SchemaReason::changed;
      else if (affected.count(lower(b.tbl_name)) || refers_to_any(b.sql, affected))
        m_trigger_reason[lower(b.name)] = SchemaReason::dependent;
    }
    m_affected = std::move(affected);
  }

  static bool refers_to_any(const std::string& sql, const std::set<std::string>& names) {
    for (const Token& tok : tokenize_sql(sql)) {
      if (tok.kind != TokenKind::word && tok.kind != TokenKind::identifier && tok.kind != TokenKind::string)
        continue;
      if (names.count(lower(token_name(tok)))) return true;
    }
    return false;
  }

  void emit() {
    auto& out = m_plan.changes;
    // 1. Drop triggers and views (dependents first: reverse creation order), then indexes, then tables.
    for (auto it = m_base.objects.rbegin(); it != m_base.objects.rend(); ++it)
      if (it->type == "trigger" && m_trigger_reason.count(lower(it->name)))
        out.push_back(drop_change(*it, m_trigger_reason[lower(it->name)]));
    for (auto it = m_base.objects.rbegin(); it != m_base.objects.rend(); ++it)
      if (it->type == "view" && m_view_reason.count(lower(it->name)))
        out.push_back(drop_change(*it, m_view_reason[lower(it->name)]));
    for (const ObjectDef& b : m_base.objects) {
      if (b.type != "index") continue;
      if (m_dropped_tables.count(lower(b.tbl_name)) || m_rebuilt_tables.count(lower(b.tbl_name))) continue;
      const ObjectDef* t = target_of(b);
      if (!t)
        out.push_back(drop_change(b, SchemaReason::removed));
      else if (t->normalized != b.normalized || !iequals(t->tbl_name, b.tbl_name))
        out.push_back(drop_change(b, SchemaReason::changed));
    }
    for (const ObjectDef& b : m_base.objects)
      if (b.type == "table" && m_dropped_tables.count(lower(b.name)))
        out.push_back(drop_change(b, SchemaReason::removed));
    // 2. Create, alter and rebuild tables.
    for (const ObjectDef* t : m_created_tables) out.push_back(create_change(*t, SchemaReason::added));
    for (const ObjectDef& t : m_target.objects) {
      auto it = m_table_changes.find(lower(t.name));
      if (t.type == "table" && it != m_table_changes.end()) out.push_back(std::move(it->second));
    }
    // 3. Create indexes, views, triggers.
    for (const ObjectDef& t : m_target.objects) {
      if (t.type != "index") continue;
      const ObjectDef* b = base_of(t);
      if (!b)
        out.push_back(create_change(t, SchemaReason::added));
      else if (b->normalized != t.normalized || !iequals(t.tbl_name, b->tbl_name))
        out.push_back(create_change(t, SchemaReason::changed));
      else if (m_rebuilt_tables.count(lower(t.tbl_name)))
        out.push_back(create_change(t, SchemaReason::dependent));
    }
    for (const char* type : {"view", "trigger"}) {
      auto& reasons = std::string(type) == "view" ? m_view_reason : m_trigger_reason;
      for (const ObjectDef& t : m_target.objects) {
        if (t.type != type) continue;
        const ObjectDef* b = base_of(t);
        if (!b) {
          out.push_back(create_change(t, SchemaReason::added));
        } else if (reasons.count(lower(t.name))) {
          out.push_back(create_change(t, reasons[lower(t.name)]));
        }
      }
    }
  }

  db::Database& m_db;
  SchemaObjects m_base, m_target;
  SchemaPlan m_plan;
  int m_counter = 0;
  std::set<std::string> m_dropped_tables, m_rebuilt_tables, m_affected;
  std::vector<const ObjectDef*> m_created_tables;
  std::map<std::string, SchemaChange> m_table_changes;
  std::map<std::string, SchemaReason> m_view_reason, m_trigger_reason;
};

}  // namespace

Result<TableDesc> read_table_desc(db::Database& db, const std::string& schema, const std::string& table) {
  TableDesc d;
  d.name = table;
  {
    auto stmt = TS_TRY(db.prepare("SELECT wr FROM pragma_table_list WHERE schema = ?1 AND name = ?2"));
    TS_TRY_STATUS(stmt.bind(1, Value::text(schema)));
    TS_TRY_STATUS(stmt.bind(2, Value::text(table)));
    if (!TS_TRY(stmt.step()))
      return Error(ErrorKind::local_db, fmt::format("table {} not found in schema {}", table, schema));
    d.without_rowid = stmt.column_int64(0) != 0;
  }
  std::vector<std::string> all_names;
  std::vector<std::pair<int, int>> pk;  // (position, index in d.columns)
  {
    auto stmt =
        TS_TRY(db.prepare("SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM "
                          "pragma_table_xinfo(?1, ?2) ORDER BY cid"));
    TS_TRY_STATUS(stmt.bind(1, Value::text(table)));
    TS_TRY_STATUS(stmt.bind(2, Value::text(schema)));
    while (TS_TRY(stmt.step())) {
      all_names.push_back(stmt.column_text(0));
      if (stmt.column_int64(5) != 0) continue;  // generated (2, 3) or hidden virtual-table column (1)
      ColumnDesc c;
      c.name = stmt.column_text(0);
      c.decl_type = stmt.column_text(1);
      c.not_null = stmt.column_int64(2) != 0;
      if (sqlite3_column_type(stmt.handle(), 3) != SQLITE_NULL) c.default_sql = stmt.column_text(3);
      c.pk_position = static_cast<int>(stmt.column_int64(4));
      if (c.pk_position > 0) pk.emplace_back(c.pk_position, static_cast<int>(d.columns.size()));
      d.columns.push_back(std::move(c));
    }
  }
  std::sort(pk.begin(), pk.end());
  for (auto& entry : pk) d.key_columns.push_back(entry.second);

  std::string pk_index;
  {
    auto stmt = TS_TRY(db.prepare("SELECT name, origin, \"unique\" FROM pragma_index_list(?1, ?2)"));
    TS_TRY_STATUS(stmt.bind(1, Value::text(table)));
    TS_TRY_STATUS(stmt.bind(2, Value::text(schema)));
    while (TS_TRY(stmt.step())) {
      if (stmt.column_text(1) == "pk")
        pk_index = stmt.column_text(0);
      else if (stmt.column_int64(2) != 0)
        d.has_unique_index = true;
    }
  }
  if (d.without_rowid || !pk_index.empty()) {
    // WITHOUT ROWID, or a rowid table whose declared key is not an alias of the rowid (SQLite made an index).
    d.key_kind = KeyKind::primary_key;
    if (pk_index.empty())
      return Error(ErrorKind::local_db, fmt::format("table {}: primary key index not found", table));
    auto stmt =
        TS_TRY(db.prepare("SELECT name, coll FROM pragma_index_xinfo(?1, ?2) WHERE key = 1 ORDER BY seqno"));
    TS_TRY_STATUS(stmt.bind(1, Value::text(pk_index)));
    TS_TRY_STATUS(stmt.bind(2, Value::text(schema)));
    std::map<std::string, std::string> coll;
    while (TS_TRY(stmt.step())) coll[lower(stmt.column_text(0))] = stmt.column_text(1);
    for (int idx : d.key_columns) {
      auto it = coll.find(lower(d.columns[idx].name));
      d.key_collations.push_back(it == coll.end() || it->second.empty() ? "BINARY" : it->second);
    }
  } else {
    d.key_kind = d.key_columns.empty() ? KeyKind::none : KeyKind::rowid;
    // A declared key without an index is a single-column INTEGER PRIMARY KEY: an alias of the rowid.
    if (d.key_columns.size() == 1) d.rowid_alias = d.key_columns[0];
  }
  if (d.rowid_alias >= 0) {
    d.rowid_expr = quote_identifier(d.columns[d.rowid_alias].name);  // the readable name of the rowid
  } else if (!d.without_rowid) {
    for (const char* candidate : {"rowid", "_rowid_", "oid"}) {
      bool shadowed = std::any_of(all_names.begin(), all_names.end(),
                                  [&](const std::string& n) { return iequals(n, candidate); });
      if (!shadowed) {
        d.rowid_expr = candidate;
        break;
      }
    }
  }
  return d;
}

Result<SchemaPlan> plan_schema(db::Database& db) {
  return Planner(db).run();
}

}  // namespace turso_sync::diff
