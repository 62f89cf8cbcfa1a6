#include "diff/schema_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "db/schema.h"
#include "diff/local_objects.h"
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

// User objects of `schema`, local objects (`local`: lower-cased names, diff/local_objects.h) left out.
Result<SchemaObjects> read_objects(db::Database& db, const std::string& schema,
                                   const std::set<std::string>& local) {
  auto stmt = TS_TRY(db.prepare(fmt::format(
      "SELECT type, name, tbl_name, sql FROM {}.sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid",
      quote_identifier(schema))));
  SchemaObjects out;
  while (TS_TRY(stmt.step())) {
    ObjectDef o{stmt.column_text(0), stmt.column_text(1), stmt.column_text(2), stmt.column_text(3), {}};
    if (db::is_internal_name(o.name) || db::is_internal_name(o.tbl_name)) continue;
    if (local.count(lower(o.name)) || local.count(lower(o.tbl_name))) continue;
    o.normalized = normalize_sql(o.sql);
    out.by_name[lower(o.name)] = out.objects.size();
    out.objects.push_back(std::move(o));
  }
  return out;
}

// A declared column type as SQLite understands it: its words, upper-cased, without the size arguments
// (`VARCHAR(12)`, `DECIMAL(10, 2)`), which SQLite ignores. The Turso server drops them from a column that
// ALTER TABLE ADD COLUMN adds and writes `VARCHAR (12)` in a CREATE TABLE: all the same type.
std::string type_meaning(std::string_view declared) {
  std::string out;
  int depth = 0;
  for (const Token& t : tokenize_sql(declared)) {
    if (t.kind == TokenKind::punct && t.text == "(") ++depth;
    if (depth == 0) {
      std::string word(t.text);
      for (char& ch : word)
        if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
      out += (out.empty() ? "" : " ") + word;
    }
    if (t.kind == TokenKind::punct && t.text == ")" && depth > 0) --depth;
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

// The definitions (as written in `target_sql`) of the target columns after the base's, when the base's
// columns are a prefix of the target's (by name); false otherwise or when one cannot be added with ALTER
// TABLE ADD COLUMN. Whether the result really is the target is checked on a probe
// (Planner::plan_add_columns).
bool appended_column_definitions(const TableMeaning& base, const TableMeaning& target,
                                 const std::string& target_sql, std::vector<std::string>* added) {
  if (target.columns.size() <= base.columns.size()) return false;
  for (size_t i = 0; i < base.columns.size(); ++i)
    if (!iequals(base.columns[i].name, target.columns[i].name)) return false;
  TableDefinition def;
  if (!parse_table_definition(target_sql, &def)) return false;
  // The Turso server's ALTER TABLE ADD COLUMN drops COLLATE and AUTOINCREMENT from the whole definition: such
  // tables are rebuilt instead, which keeps the definition exactly as written.
  // It also writes a foreign key's parent table and columns unquoted (`REFERENCES t1 accounts(id)`), which
  // breaks the definition when a name needs quotes.
  auto plain = [](const std::string& name) {
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
  };
  std::vector<Token> all = tokenize_sql(target_sql);
  for (size_t i = 0; i < all.size(); ++i) {
    const Token& tok = all[i];
    if (tok.kind == TokenKind::word && (iequals(tok.text, "COLLATE") || iequals(tok.text, "AUTOINCREMENT")))
      return false;
    if (tok.kind != TokenKind::word || !iequals(tok.text, "REFERENCES")) continue;
    for (size_t k = i + 1; k < all.size(); ++k) {  // the parent's name, then its column list if any
      if (all[k].kind == TokenKind::identifier && !plain(token_name(all[k]))) return false;
      bool list_follows = k + 1 < all.size() && all[k + 1].text == "(";
      if ((k == i + 1 && !list_follows) || all[k].text == ")") break;
    }
  }
  added->clear();
  for (size_t i = base.columns.size(); i < target.columns.size(); ++i) {
    std::string found;
    for (size_t k = 0; k < def.items.size() && found.empty(); ++k) {
      if (!def.item_is_column[k]) continue;
      auto tokens = tokenize_sql(def.items[k]);
      if (!tokens.empty() && iequals(token_name(tokens[0]), target.columns[i].name)) found = def.items[k];
    }
    if (found.empty() || !can_add_column(found)) return false;
    added->push_back(found);
  }
  return true;
}

class Planner {
 public:
  Planner(db::Database& db, const LocalFilter& filter) : m_db(db), m_filter(filter) {}

  Result<SchemaPlan> run() {
    // An object local on either side (or on the working copy: m_filter.names) is left out on both: a
    // remote object with the name of a local one is left alone.
    auto base_local = TS_TRY(find_local_objects(m_db, k_base_schema, m_filter.patterns, m_filter.names));
    m_plan.local_objects =
        TS_TRY(find_local_objects(m_db, k_target_schema, m_filter.patterns, m_filter.names));
    std::set<std::string> local = local_names(base_local);
    for (const std::string& n : local_names(m_plan.local_objects)) local.insert(n);
    m_base = TS_TRY(read_objects(m_db, k_base_schema, local));
    m_target = TS_TRY(read_objects(m_db, k_target_schema, local));
    TS_TRY_STATUS(plan_tables());
    plan_dependents();
    emit();
    TS_TRY_STATUS(plan_user_version());
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
      } else {
        TableMeaning base_meaning = TS_TRY(read_table_meaning(m_db, k_base_schema, b->name));
        TableMeaning target_meaning = TS_TRY(read_table_meaning(m_db, k_target_schema, t.name));
        if (base_meaning.text() == target_meaning.text()) {
          TS_TRY_STATUS(use_base_table(plan, *b, BaseRows::same_table));
        } else {
          warn_lost_meaning(t.name, base_meaning, target_meaning);
          std::vector<std::string> added;
          bool done = false;
          if (appended_column_definitions(base_meaning, target_meaning, t.sql, &added))
            done = TS_TRY(plan_add_columns(plan, *b, t, added, target_meaning));
          if (!done) TS_TRY_STATUS(plan_rebuild(plan, *b, t, base_meaning, target_meaning));
        }
      }
      if (plan.target.key_kind == KeyKind::none)
        m_plan.warnings.push_back(fmt::format(
            "table {} has no PRIMARY KEY: rows are matched by rowid, which VACUUM may renumber", t.name));
      m_plan.tables.push_back(std::move(plan));
    }
    return {};
  }

  // A collation or AUTOINCREMENT that a kept column loses changes what the application's queries match (the
  // Turso server's ALTER TABLE ADD COLUMN does this): worth a word.
  void warn_lost_meaning(const std::string& table, const TableMeaning& base, const TableMeaning& target) {
    for (const ColumnMeaning& b : base.columns) {
      for (const ColumnMeaning& t : target.columns) {
        if (!iequals(b.name, t.name)) continue;
        if (b.collation != t.collation && !b.collation.empty())
          m_plan.warnings.push_back(fmt::format(
              "table {}: column {} loses COLLATE {} (now {}); comparisons of it change (the Turso server's "
              "ALTER TABLE ADD COLUMN drops collations: use turso-sync to push such migrations)",
              table, b.name, b.collation, t.collation.empty() ? "BINARY" : t.collation));
        if (b.autoincrement && !t.autoincrement)
          m_plan.warnings.push_back(
              fmt::format("table {}: column {} loses AUTOINCREMENT; ids of deleted rows may be reused (the "
                          "Turso server's "
                          "ALTER TABLE ADD COLUMN drops it: use turso-sync to push such migrations)",
                          table, b.name));
      }
    }
  }

  // PRAGMA user_version travels with the schema (migration runners rely on it): set last, after the objects.
  Status plan_user_version() {
    int64_t base = TS_TRY(db::query_int(m_db, fmt::format("PRAGMA {}.user_version", k_base_schema)));
    int64_t target = TS_TRY(db::query_int(m_db, fmt::format("PRAGMA {}.user_version", k_target_schema)));
    if (base == target) return {};
    SchemaChange c;
    c.op = SchemaOp::user_version;
    c.reason = SchemaReason::changed;
    c.object_type = "pragma";
    c.name = "user_version";
    c.old_sql = std::to_string(base);
    c.new_sql = std::to_string(target);
    c.statements.push_back(fmt::format("PRAGMA user_version = {}", target));
    m_plan.changes.push_back(std::move(c));
    return {};
  }

  Status use_base_table(TablePlan& plan, const ObjectDef& b, BaseRows kind) {
    TableDesc base_desc = TS_TRY(read_table_desc(m_db, k_base_schema, b.name));
    plan.base_rows = kind;
    plan.base_table = qualified(k_base_schema, b.name);
    plan.base_schema = k_base_schema;
    plan.base_name = b.name;
    plan.base_rowid_expr = base_desc.rowid_expr;
    return {};
  }

  // ALTER TABLE ADD COLUMN, when applying it to the base definition gives the target's meaning (checked on an
  // empty copy of the base definition), and a one-row probe table yields the value old rows get.
  Result<bool> plan_add_columns(TablePlan& plan, const ObjectDef& b, const ObjectDef& t,
                                const std::vector<std::string>& added, const TableMeaning& target_meaning) {
    std::string shape = fmt::format("turso_sync_shape_{}", m_counter++);
    std::string shape_q = qualified("temp", shape);
    if (!m_db.exec(rename_created(b.sql, shape_q)).ok()) return false;
    bool same = true;
    for (size_t i = 0; i < added.size() && same; ++i)
      same = m_db.exec(fmt::format("ALTER TABLE {} ADD COLUMN {}", shape_q, added[i])).ok();
    if (same) same = TS_TRY(read_table_meaning(m_db, "temp", shape)).text() == target_meaning.text();
    TS_TRY_STATUS(m_db.exec("DROP TABLE " + shape_q));
    if (!same) return false;

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

  // A rebuild copies the columns both definitions have, matched by name, and follows renames: a target
  // column that the base lacks, at the position of a base column that the target lacks, with the same
  // declared type, is that column renamed (what ALTER TABLE RENAME COLUMN gives; a dropped and an added
  // column would sit at different positions unless the dropped one was the last).
  Status plan_rebuild(TablePlan& plan, const ObjectDef& b, const ObjectDef& t, const TableMeaning&,
                      const TableMeaning&) {
    TableDesc base_desc = TS_TRY(read_table_desc(m_db, k_base_schema, b.name));
    const TableDesc& target = plan.target;
    std::vector<std::string> common;   // target names
    std::vector<std::string> sources;  // the base column each is copied from
    std::vector<std::pair<std::string, std::string>> renamed;
    std::vector<std::string> origin = column_sources(base_desc.columns, target.columns);
    for (size_t i = 0; i < target.columns.size(); ++i) {
      const ColumnDesc& col = target.columns[i];
      if (origin[i].empty()) {
        plan.always_changed[i] = has_volatile_default(column_definition(t.sql, col.name));
        continue;
      }
      common.push_back(col.name);
      sources.push_back(origin[i]);
      if (!iequals(origin[i], col.name)) renamed.emplace_back(origin[i], col.name);
    }
    std::vector<std::string> dropped;
    for (const ColumnDesc& c : base_desc.columns)
      if (std::none_of(sources.begin(), sources.end(),
                       [&](const std::string& n) { return iequals(n, c.name); }))
        dropped.push_back(c.name);
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
      for (size_t i = 0; i < common.size(); ++i) {
        if (!cols.empty()) {
          cols += ", ";
          sel += ", ";
        }
        cols += quote_identifier(common[i]);
        sel += quote_identifier(sources[i]);
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
    plan.base_schema = "temp";
    plan.base_name = proj;
    plan.base_rowid_expr = target.rowid_expr;

    SchemaChange c = make_change(SchemaOp::rebuild_table, SchemaReason::changed, t);
    c.old_sql = b.sql;
    c.new_sql = t.sql;
    c.copy_rows = copy_rows;
    if (copy_rows) {
      c.copied_columns = common;
      c.renamed_columns = std::move(renamed);
      c.dropped_columns = std::move(dropped);
    }
    std::string unquoted_tmp = "turso_sync_new_" + t.name;
    std::string tmp = quote_identifier(unquoted_tmp);
    c.statements.push_back(rename_created(t.sql, tmp));
    if (copy_rows) c.statements.push_back(copy_sql(tmp, quote_identifier(b.name)));
    if (declares_autoincrement(b.sql) && declares_autoincrement(t.sql)) {
      // The new table's counter starts at its largest copied id; the old one's may be higher (the largest
      // rows were deleted). It never goes backwards: an id given out once is not given out again. (No COLLATE
      // in these: the Turso server does not take it in a WHERE clause.)
      std::string base_name = sql_literal(Value::text(b.name)),
                  tmp_name = sql_literal(Value::text(unquoted_tmp));
      c.statements.push_back(
          fmt::format("INSERT INTO sqlite_sequence (name, seq) SELECT {0}, 0 WHERE NOT EXISTS (SELECT 1 FROM "
                      "sqlite_sequence WHERE lower(name) = lower({0}))",
                      tmp_name));
      c.statements.push_back(fmt::format(
          "UPDATE sqlite_sequence SET seq = (SELECT max(seq) FROM sqlite_sequence WHERE lower(name) IN "
          "(lower({0}), lower({1}))) WHERE lower(name) = lower({0})",
          tmp_name, base_name));
    }
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
    // An index of a rebuilt table that the target drops or changes is dropped explicitly too (the rebuild's
    // DROP TABLE would take it along): a three-way merge must see the remote's drop as a change of its own.
    for (const ObjectDef& b : m_base.objects) {
      if (b.type != "index") continue;
      if (m_dropped_tables.count(lower(b.tbl_name))) continue;
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
  const LocalFilter& m_filter;
  SchemaObjects m_base, m_target;
  SchemaPlan m_plan;
  int m_counter = 0;
  std::set<std::string> m_dropped_tables, m_rebuilt_tables, m_affected;
  std::vector<const ObjectDef*> m_created_tables;
  std::map<std::string, SchemaChange> m_table_changes;
  std::map<std::string, SchemaReason> m_view_reason, m_trigger_reason;
};

}  // namespace

std::string TableMeaning::text() const {
  if (!exists) return "";
  std::string out = fmt::format("wr={} strict={}\n", without_rowid, strict);
  for (const ColumnMeaning& c : columns)
    out += fmt::format("col {} {} nn={} dflt={} pk={} hidden={} coll={} autoinc={}\n", lower(c.name), c.type,
                       c.not_null, c.default_sql, c.pk_position, c.hidden, c.collation, c.autoincrement);
  for (const std::string& c : constraints) out += c + "\n";
  return out;
}

namespace {

// The CHECK constraints of a CREATE TABLE statement (column and table constraints alike), normalised.
std::vector<std::string> check_constraints(const std::string& sql) {
  std::vector<std::string> out;
  auto tokens = tokenize_sql(sql);
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    if (tokens[i].kind != TokenKind::word || !iequals(tokens[i].text, "CHECK") || tokens[i + 1].text != "(")
      continue;
    int depth = 0;
    size_t j = i + 1;
    for (; j < tokens.size(); ++j) {
      if (tokens[j].text == "(") ++depth;
      if (tokens[j].text == ")" && --depth == 0) break;
    }
    if (j >= tokens.size()) break;
    size_t begin = tokens[i + 1].offset, end = tokens[j].offset + tokens[j].text.size();
    out.push_back("check " + lower(normalize_sql(std::string_view(sql).substr(begin, end - begin))));
    i = j;
  }
  return out;
}

}  // namespace

Result<TableMeaning> read_table_meaning(db::Database& db, const std::string& schema,
                                        const std::string& table) {
  TableMeaning m;
  std::string name;
  {
    auto stmt =
        TS_TRY(db.prepare("SELECT name, wr, strict FROM pragma_table_list WHERE schema = ?1 AND name = ?2 "
                          "COLLATE NOCASE AND type "
                          "= 'table'"));
    TS_TRY_STATUS(stmt.bind(1, Value::text(schema)));
    TS_TRY_STATUS(stmt.bind(2, Value::text(table)));
    if (!TS_TRY(stmt.step())) return m;
    name = stmt.column_text(0);
    m.without_rowid = stmt.column_int64(1) != 0;
    m.strict = stmt.column_int64(2) != 0;
  }
  m.exists = true;
  {
    auto stmt = TS_TRY(
        db.prepare("SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1, ?2) "
                   "ORDER BY cid"));
    TS_TRY_STATUS(stmt.bind(1, Value::text(name)));
    TS_TRY_STATUS(stmt.bind(2, Value::text(schema)));
    while (TS_TRY(stmt.step())) {
      ColumnMeaning c;
      c.name = stmt.column_text(0);
      c.type = type_meaning(stmt.column_text(1));
      c.not_null = stmt.column_int64(2) != 0;
      if (sqlite3_column_type(stmt.handle(), 3) != SQLITE_NULL)
        c.default_sql = normalize_sql(stmt.column_text(3));
      c.pk_position = static_cast<int>(stmt.column_int64(4));
      c.hidden = static_cast<int>(stmt.column_int64(5));
      const char *type = nullptr, *coll = nullptr;
      int not_null = 0, pk = 0, autoinc = 0;
      if (sqlite3_table_column_metadata(db.handle(), schema.c_str(), name.c_str(), c.name.c_str(), &type,
                                        &coll, &not_null, &pk, &autoinc) == SQLITE_OK) {
        c.collation = coll ? coll : "BINARY";
        for (char& ch : c.collation)
          if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
        c.autoincrement = autoinc != 0;
      }
      m.columns.push_back(std::move(c));
    }
  }
  {
    auto stmt =
        TS_TRY(db.prepare("SELECT id, \"table\", \"from\", \"to\", on_update, on_delete, \"match\" FROM "
                          "pragma_foreign_key_list(?1, ?2) ORDER BY id, seq"));
    TS_TRY_STATUS(stmt.bind(1, Value::text(name)));
    TS_TRY_STATUS(stmt.bind(2, Value::text(schema)));
    std::map<int64_t, std::string> by_id;
    while (TS_TRY(stmt.step())) {
      std::string& fk = by_id[stmt.column_int64(0)];
      if (fk.empty())
        fk = fmt::format("fk {} update={} delete={} match={}:", lower(stmt.column_text(1)),
                         stmt.column_text(4), stmt.column_text(5), stmt.column_text(6));
      fk += fmt::format(" {}->{}", lower(stmt.column_text(2)), lower(stmt.column_text(3)));
    }
    for (auto& [id, fk] : by_id) m.constraints.push_back(std::move(fk));
  }
  {
    std::vector<std::pair<std::string, std::string>> indexes;  // (name, origin)
    auto list = TS_TRY(db.prepare("SELECT name, origin, partial FROM pragma_index_list(?1, ?2)"));
    TS_TRY_STATUS(list.bind(1, Value::text(name)));
    TS_TRY_STATUS(list.bind(2, Value::text(schema)));
    while (TS_TRY(list.step()))
      if (list.column_text(1) != "c") indexes.emplace_back(list.column_text(0), list.column_text(1));
    auto cols = TS_TRY(db.prepare(
        "SELECT name, coll, \"desc\" FROM pragma_index_xinfo(?1, ?2) WHERE key = 1 ORDER BY seqno"));
    for (const auto& [index, origin] : indexes) {
      TS_TRY_STATUS(cols.reset());
      TS_TRY_STATUS(cols.bind(1, Value::text(index)));
      TS_TRY_STATUS(cols.bind(2, Value::text(schema)));
      std::string text = origin == "pk" ? "primary key" : "unique";
      while (TS_TRY(cols.step()))
        text += fmt::format(" {} {}{}", lower(cols.column_text(0)), cols.column_text(1),
                            cols.column_int64(2) ? " DESC" : "");
      m.constraints.push_back(std::move(text));
    }
  }
  {
    auto stmt = TS_TRY(db.prepare(
        fmt::format("SELECT sql FROM {}.sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
                    quote_identifier(schema))));
    TS_TRY_STATUS(stmt.bind(1, Value::text(name)));
    if (TS_TRY(stmt.step()))
      for (std::string& c : check_constraints(stmt.column_text(0))) m.constraints.push_back(std::move(c));
  }
  std::sort(m.constraints.begin(), m.constraints.end());
  return m;
}

Result<TableDesc> read_table_desc(db::Database& db, const std::string& schema, const std::string& table) {
  TableDesc d;
  d.name = table;
  {
    auto stmt =
        TS_TRY(db.prepare("SELECT wr FROM pragma_table_list WHERE schema = ?1 AND name = ?2 COLLATE NOCASE"));
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

std::vector<std::string> column_sources(const std::vector<ColumnDesc>& from,
                                        const std::vector<ColumnDesc>& to) {
  auto has = [](const std::vector<ColumnDesc>& cols, const std::string& name) {
    return std::any_of(cols.begin(), cols.end(), [&](const ColumnDesc& c) { return iequals(c.name, name); });
  };
  std::vector<std::string> out(to.size());
  for (size_t i = 0; i < to.size(); ++i) {
    auto same = std::find_if(from.begin(), from.end(),
                             [&](const ColumnDesc& c) { return iequals(c.name, to[i].name); });
    if (same != from.end())
      out[i] = same->name;
    else if (i < from.size() && !has(to, from[i].name) && iequals(from[i].decl_type, to[i].decl_type))
      out[i] = from[i].name;
  }
  return out;
}

Result<SchemaPlan> plan_schema(db::Database& db, const LocalFilter& local) {
  return Planner(db, local).run();
}

}  // namespace turso_sync::diff
