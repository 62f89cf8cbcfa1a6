// Property (issue #7): random schema migrations and random row edits on two working copies, synced in random
// order against a real local server, converge. Each step one copy runs a migration from a catalog (ADD COLUMN
// with and without DEFAULT / NOT NULL DEFAULT / COLLATE / REFERENCES, RENAME COLUMN, DROP COLUMN, RENAME
// TABLE, a table rebuild that changes a type or adds a CHECK, CREATE/DROP INDEX, VIEW, TRIGGER, TABLE,
// `PRAGMA user_version` bumps; names in mixed case and with quote characters) or edits rows (inserts,
// updates, deletes with REALs, NULLs, BLOBs, unicode text), then runs sync, pull, push or nothing. A command
// that exits 3 (a reported conflict) is settled with `pull --on-conflict=remote` then `push`; a settled pull
// conflict must leave a discarded-changes file.
//
// At the end, after syncing both copies until a round changes nothing: both working copies, both replicas and
// the remote hold the same schema by meaning (pragma_table_xinfo per table, lower-cased names; index names
// and columns; view and trigger names; user_version) and the same rows; no row is doubled; every insert and
// every column update is in the end state unless a later step legitimately removed it (a delete, a later
// update of the same column, a drop of its column or table), or else it is recorded in a discarded-changes
// file.
//
// Names carry a stable logical id ("t3 it's", "C12_Mixed", "c12_r40"): renames keep the prefix, so an edit
// can be followed through renames. Every table has `id INTEGER PRIMARY KEY` and `uid TEXT NOT NULL` (the
// row's identity, never renamed or dropped).
//
// Seed: printed per case; replay one case with TURSO_SYNC_SEED=<n>. The cases are the same on every run (a
// fixed seed sequence); TURSO_SYNC_RANDOM_SEEDS=1 draws new ones (`make soak`). TURSO_SYNC_SCHEMA_CASES
// overrides the number of cases (e.g. 300 for a long run; the default run has 8, the slow one 24, to keep CI
// short), TURSO_SYNC_SCHEMA_STEPS the number of steps per case; TURSO_SYNC_SCHEMA_PLAIN_NAMES=1 uses
// lower-case names without quotes or spaces.
//
// The SQL text, the schema reading and the comparison by meaning it uses: tests/support/schema_gen.h.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "support/schema_gen.h"
#include "support/sync_checks.h"
#include "support/test_env.h"
#include "util/text.h"

namespace turso_sync::testing {
namespace {

// --- the model of what was done
// ----------------------------------------------------------------------------------

struct Event {
  enum Kind { insert, update, remove, drop_column, drop_table } kind;
  int step = 0;
  int table = -1;   // logical id
  int column = -1;  // logical id (update, drop_column)
  std::string uid, token;
};

class SchemaCase {
 public:
  explicit SchemaCase(uint64_t seed) : m_seed(seed), m_rng(seed) {}

  void run(int steps) {
    ASSERT_TRUE(m_server.started());
    ASSERT_NO_FATAL_FAILURE(setup());
    for (int step = 0; step < steps; ++step) {
      m_step = step;
      int p = pick(2);
      SCOPED_TRACE("step " + std::to_string(step) + " copy " + std::string(1, "AB"[p]));
      ASSERT_NO_FATAL_FAILURE(one_step(p));
    }
    ASSERT_NO_FATAL_FAILURE(quiesce());
    ASSERT_NO_FATAL_FAILURE(check_end_state());
  }

  std::string history() const {
    std::string out;
    for (const auto& h : m_history) out += h + "\n";
    return out.size() > 12000 ? "...\n" + out.substr(out.size() - 12000) : out;
  }
  int conflicts = 0, migrations = 0, migration_attempts = 0;

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(m_rng); }
  bool chance(double p) { return std::bernoulli_distribution(p)(m_rng); }
  template <typename T>
  const T& any(const std::vector<T>& v) {
    return v[static_cast<size_t>(pick(static_cast<int>(v.size())))];
  }
  TempDir& copy(int p) { return p == 0 ? m_a : m_b; }
  std::string wc(int p) { return copy(p).file("working_copy.db"); }
  CommandResult cli(int p, const std::vector<std::string>& args) {
    auto r = run_cli(args, env_for(m_server.url()), copy(p).path().string());
    std::string line = std::string(1, "AB"[p]) + "$ turso-sync";
    for (const auto& a : args) line += " " + a;
    line += "  -> " + std::to_string(r.exit_code);
    m_history.push_back(line);
    return r;
  }

  // A name for logical id `lid`: mixed case, spaces, quote characters.
  std::string decorate(char prefix, int lid) {
    std::string base = std::string(1, prefix) + std::to_string(lid);
    if (m_plain) return base;
    switch (pick(5)) {
      case 0:
        return base;
      case 1:
        return std::string(1, static_cast<char>(prefix - 'a' + 'A')) + std::to_string(lid) + "_Mixed";
      case 2:
        return base + " it's";
      case 3:
        return base + " \"q\"";
      default:
        return base + "_x";
    }
  }
  std::string token() { return "~k" + std::to_string(++m_counter) + "~"; }

  std::string random_value(const Column& c) {
    switch (pick(c.not_null ? 5 : 6)) {
      case 0:
        return std::to_string(static_cast<int64_t>(pick(2000)) - 1000);
      case 1: {
        static const double reals[] = {0.1 + 0.2, -2.5, 1e-300, 1.0 / 3, 12345.678, 0.0, 2.0};
        return sql_real(reals[pick(7)]);
      }
      case 2: {
        static const std::vector<std::string> pool = {"héllo ✓", "it's",   "quote \"x\"", "日本語",
                                                      "",        "Urgent", "semi; colon", "tab\tnew\nline"};
        return sq(any(pool) + " " + std::to_string(pick(100)));
      }
      case 3:
        return sq(token());
      case 4: {
        std::string bytes;
        for (int i = 0, n = pick(6); i < n; ++i) bytes += static_cast<char>(pick(256));
        return "x'" + to_hex(bytes) + "'";
      }
      default:
        return "NULL";
    }
  }
  // A value for a foreign key column: NULL, or one of the seed rows of a seed parent (never deleted).
  std::string fk_value(const Column& c) {
    int parent = lid_of(c.fk_parent, 't');
    if ((parent == 1 || parent == 2) && chance(0.6)) return std::to_string(1 + pick(3));
    return "NULL";
  }
  static bool editable(const Column& c) {
    return !c.pk && lower_ascii(c.name) != "uid" && lid_of(c.name, 'c') >= 0;
  }

  void setup() {
    // Seed names: mixed case and quote characters, unless TURSO_SYNC_SCHEMA_PLAIN_NAMES is set (to tell a
    // naming bug from a merge bug).
    auto name = [&](const char* fancy, const char* plain) { return qi(m_plain ? plain : fancy); };
    const std::string t1 = name("T1 Accounts", "t1"), t2 = name("t2_Items", "t2"), t3 = name("t3 it's", "t3");
    const std::string c1 = name("C1 E-mail", "c1"), c2 = name("c2_Name", "c2"), c5 = name("C5 it's", "c5"),
                      c9 = name("c9 \"q\"", "c9");
    remote_exec(
        m_server.url(),
        {"PRAGMA user_version = 1", "CREATE TABLE log (id INTEGER PRIMARY KEY, what TEXT)",
         "CREATE TABLE " + t1 + " (id INTEGER PRIMARY KEY AUTOINCREMENT, uid TEXT NOT NULL, " + c1 +
             " TEXT UNIQUE COLLATE NOCASE, " + c2 +
             " TEXT COLLATE NOCASE, c3 REAL CHECK (c3 IS NOT 'forbidden'))",
         "CREATE TABLE " + t2 + " (id INTEGER PRIMARY KEY, uid TEXT NOT NULL, c4 INTEGER REFERENCES " + t1 +
             "(id), " + c5 + " TEXT, c6 BLOB, c7 REAL DEFAULT 0.5)",
         "CREATE TABLE " + t3 + " (id INTEGER PRIMARY KEY, uid TEXT NOT NULL, c8 INTEGER, " + c9 +
             " TEXT NOT NULL DEFAULT 'x', c10, CHECK (length(uid) > 0), FOREIGN KEY (c8) REFERENCES " + t2 +
             "(id))",
         "CREATE INDEX " + name("Ix1 items", "ix1") + " ON " + t2 + " (c4)",
         "CREATE VIEW " + name("V1 names", "v1") + " AS SELECT uid, " + c2 + " FROM " + t1,
         "CREATE TRIGGER " + name("Tr1 log", "tr1") + " AFTER INSERT ON " + t2 +
             " BEGIN INSERT INTO log (what) VALUES ('tr1 ' || new.uid); END",
         "INSERT INTO " + t1 + " (uid, " + c1 + ", " + c2 +
             ", c3) VALUES ('seed-a1', 'Ann@X', 'Ann', 0.5), ('seed-a2', 'bob@x', 'Bob', NULL), ('seed-a3', "
             "'cid@x', 'Çid', -2.5)",
         "INSERT INTO " + t2 +
             " VALUES (1, 'seed-i1', 1, 'one', x'00ff', 0.1), (2, 'seed-i2', 2, NULL, NULL, 1e-300), (3, "
             "'seed-i3', NULL, 'it''s', x'', NULL)",
         "INSERT INTO " + t3 + " VALUES (1, 'seed-n1', 1, 'q', 7), (2, 'seed-n2', NULL, 'r', x'01')"});
    for (const auto& [lid, uid] : std::vector<std::pair<int, std::string>>{{1, "seed-a1"},
                                                                           {1, "seed-a2"},
                                                                           {1, "seed-a3"},
                                                                           {2, "seed-i1"},
                                                                           {2, "seed-i2"},
                                                                           {2, "seed-i3"},
                                                                           {3, "seed-n1"},
                                                                           {3, "seed-n2"}})
      m_events.push_back({Event::insert, -1, lid, -1, uid, ""});
    m_counter = 20;  // logical ids and tokens above the seed's
    for (int p = 0; p < 2; ++p) {
      auto r = cli(p, {"init"});
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
  }

  void one_step(int p) {
    auto schema = read_local_schema(wc(p));
    ASSERT_TRUE(schema) << "cannot read the schema of copy " << p;
    if (chance(0.45)) {
      ASSERT_NO_FATAL_FAILURE(migrate(p, *schema));
    } else {
      ASSERT_NO_FATAL_FAILURE(edit(p, *schema));
    }
    int c = pick(10);
    if (c < 2) return;  // changes pile up unsynced
    std::string command = c < 6 ? "sync" : c < 8 ? "pull" : "push";
    ASSERT_NO_FATAL_FAILURE(sync_command(p, command));
  }

  // Runs `command`; a conflict (exit 3) is settled with pull --on-conflict=remote, then push.
  void sync_command(int p, const std::string& command) {
    size_t discarded_before = discarded_files(copy(p)).size();
    auto r = cli(p, {command});
    if (r.exit_code == 0) return;
    ASSERT_EQ(r.exit_code, 3) << command << " failed (not a conflict):\n" << r.out << r.err;
    ++conflicts;
    m_history.push_back("   conflict: " + (r.out + r.err).substr(0, 600));
    auto settled = cli(p, {"pull", "--on-conflict=remote"});
    ASSERT_EQ(settled.exit_code, 0) << "pull --on-conflict=remote did not settle the conflict of " << command
                                    << ":\n"
                                    << r.out << r.err << "\n---\n"
                                    << settled.out << settled.err;
    if (command != "push") {
      EXPECT_GT(discarded_files(copy(p)).size(), discarded_before)
          << "a pull conflict settled by --on-conflict=remote left no discarded-changes file:\n"
          << r.out << r.err << "\n---\n"
          << settled.out << settled.err;
    }
    auto pushed = cli(p, {"push"});
    ASSERT_EQ(pushed.exit_code, 0) << "push after settling:\n" << pushed.out << pushed.err;
  }

  // --- migrations
  // -------------------------------------------------------------------------------------------------

  void migrate(int p, const Schema& s) {
    for (int attempt = 0; attempt < 8; ++attempt) {
      std::vector<Event> events;
      std::string sql = migration_sql(s, &events);
      if (sql.empty()) continue;
      ++migration_attempts;
      auto r = try_local_script(wc(p), sql);
      if (r.exit_code != 0) continue;  // SQLite refused it (a dropped column is indexed, ...): another one
      ++migrations;
      m_history.push_back(std::string(1, "AB"[p]) + " migrates: " + sql);
      for (auto& e : events) {
        e.step = m_step;
        m_events.push_back(e);
      }
      return;
    }
  }

  const Column* editable_column(const Table& t) {
    std::vector<const Column*> cols;
    for (const Column& c : t.columns)
      if (editable(c)) cols.push_back(&c);
    return cols.empty() ? nullptr : any(cols);
  }

  std::string migration_sql(const Schema& s, std::vector<Event>* events) {
    if (s.tables.empty()) return create_table_sql(s);
    const Table& t = any(s.tables);
    switch (pick(15)) {
      case 0:
      case 1: {  // ADD COLUMN
        int lid = ++m_counter;
        std::string def = qi(decorate('c', lid));
        static const std::vector<std::string> types = {"TEXT", "INTEGER", "REAL", "BLOB", "", "NUMERIC"};
        std::string type = any(types);
        def += type.empty() ? "" : " " + type;
        switch (pick(6)) {
          case 0:
            def += " DEFAULT 'UTC'";
            break;
          case 1:
            def += " NOT NULL DEFAULT 0";
            break;
          case 2:
            def += " DEFAULT 1.5";
            break;
          case 3:
            def += " COLLATE NOCASE";
            break;
          case 4:
            if (const Table* parent = s.table_by_lid(1)) def += " REFERENCES " + qi(parent->name) + "(id)";
            break;
          default:
            break;
        }
        return "ALTER TABLE " + qi(t.name) + " ADD COLUMN " + def + ";";
      }
      case 2: {  // RENAME COLUMN
        const Column* c = editable_column(t);
        if (!c) return "";
        std::string to = decorate('c', lid_of(c->name, 'c')) + "_r" + std::to_string(++m_counter);
        return "ALTER TABLE " + qi(t.name) + " RENAME COLUMN " + qi(c->name) + " TO " + qi(to) + ";";
      }
      case 3: {  // DROP COLUMN
        const Column* c = editable_column(t);
        if (!c) return "";
        events->push_back({Event::drop_column, 0, t.lid, lid_of(c->name, 'c'), "", ""});
        return "ALTER TABLE " + qi(t.name) + " DROP COLUMN " + qi(c->name) + ";";
      }
      case 4: {  // RENAME TABLE
        std::string to = decorate('t', t.lid) + "_r" + std::to_string(++m_counter);
        return "ALTER TABLE " + qi(t.name) + " RENAME TO " + qi(to) + ";";
      }
      case 5:
      case 6:
        return rebuild_sql(s, t);
      case 7: {  // CREATE INDEX
        const Column* c = editable_column(t);
        std::string name = decorate('i', ++m_counter);
        if (!c || chance(0.25)) return "CREATE UNIQUE INDEX " + qi(name) + " ON " + qi(t.name) + " (uid);";
        return "CREATE INDEX " + qi(name) + " ON " + qi(t.name) + " (" + qi(c->name) + ");";
      }
      case 8:
        return drop_object_sql(s, "index", "DROP INDEX ");
      case 9: {  // CREATE VIEW
        const Column* c = editable_column(t);
        return "CREATE VIEW " + qi(decorate('v', ++m_counter)) + " AS SELECT uid" +
               (c ? ", " + qi(c->name) : "") + " FROM " + qi(t.name) + ";";
      }
      case 10:
        return drop_object_sql(s, "view", "DROP VIEW ");
      case 11: {  // CREATE TRIGGER (writes only the log table)
        int lid = ++m_counter;
        std::string when = chance(0.5) ? "INSERT" : "UPDATE";
        return "CREATE TRIGGER " + qi(decorate('r', lid)) + " AFTER " + when + " ON " + qi(t.name) +
               " BEGIN INSERT INTO log (what) VALUES ('r" + std::to_string(lid) + " ' || new.uid); END;";
      }
      case 12:
        return drop_object_sql(s, "trigger", "DROP TRIGGER ");
      case 13:
        if (chance(0.5)) return "PRAGMA user_version = " + std::to_string(s.user_version + 1 + pick(3)) + ";";
        return create_table_sql(s);
      default: {  // DROP TABLE, unless another table refers to it
        for (const Table& other : s.tables)
          for (const Column& c : other.columns)
            if (&other != &t && lower_ascii(c.fk_parent) == lower_ascii(t.name)) return "";
        if (s.tables.size() < 2) return "";
        events->push_back({Event::drop_table, 0, t.lid, -1, "", ""});
        return "DROP TABLE " + qi(t.name) + ";";
      }
    }
  }

  std::string drop_object_sql(const Schema& s, const std::string& type, const std::string& verb) {
    std::vector<const Object*> found;
    for (const Object& o : s.others)
      if (o.type == type) found.push_back(&o);
    return found.empty() ? "" : verb + qi(any(found)->name) + ";";
  }

  std::string create_table_sql(const Schema& s) {
    int lid = ++m_counter;
    std::string c1 = decorate('c', ++m_counter), c2 = decorate('c', ++m_counter),
                c3 = decorate('c', ++m_counter);
    std::string sql = "CREATE TABLE " + qi(decorate('t', lid)) + " (id INTEGER PRIMARY KEY" +
                      (chance(0.5) ? " AUTOINCREMENT" : "") + ", uid TEXT NOT NULL, " + qi(c1) +
                      " TEXT COLLATE NOCASE, " + qi(c2) + " INTEGER";
    const Table* parent = s.table_by_lid(chance(0.5) ? 1 : 2);
    bool inline_fk = chance(0.5);
    if (parent && inline_fk) sql += " REFERENCES " + qi(parent->name) + "(id)";
    sql += ", " + qi(c3) + " REAL CHECK (" + qi(c3) + " IS NOT 'never'), UNIQUE (uid)";
    if (parent && !inline_fk) sql += ", FOREIGN KEY (" + qi(c2) + ") REFERENCES " + qi(parent->name) + "(id)";
    return sql + ");";
  }

  // SQLite's table-rebuild procedure: a new definition (a CHECK added, or a column's type changed), the rows
  // copied, the old table dropped, the new one renamed; indexes, views and triggers dropped and created
  // again.
  std::string rebuild_sql(const Schema& s, const Table& t) {
    std::string def = t.sql;
    bool changed = false;
    if (chance(0.5)) {
      const Column* c = editable_column(t);
      if (c && !c->type.empty()) {
        std::string from = qi(c->name) + " " + c->type;
        size_t at = def.find(from);
        static const std::vector<std::string> types = {"TEXT", "BLOB", "NUMERIC", "ANY", "INTEGER"};
        std::string to = any(types);
        if (at != std::string::npos && to != c->type) {
          def.replace(at + qi(c->name).size() + 1, c->type.size(), to);
          changed = true;
        }
      }
    }
    if (!changed) {
      size_t close = def.rfind(')');
      if (close == std::string::npos) return "";
      def.insert(close, ", CHECK (uid <> 'forbidden " + std::to_string(++m_counter) + "')");
    }
    size_t open = def.find('(');
    if (open == std::string::npos) return "";
    std::string tmp = "x_rebuild_" + std::to_string(++m_counter);
    std::string sql;
    std::vector<std::string> again;
    for (const Object& o : s.others) {
      bool on_table = o.type == "index" && lower_ascii(o.tbl_name) == lower_ascii(t.name);
      if (o.type == "view" || o.type == "trigger" || on_table) {
        if (o.type != "index")
          sql += "DROP " + std::string(o.type == "view" ? "VIEW " : "TRIGGER ") + qi(o.name) + ";\n";
        again.push_back(o.sql + ";");
      }
    }
    sql += "CREATE TABLE " + qi(tmp) + " " + def.substr(open) + ";\n";
    sql += "INSERT INTO " + qi(tmp) + " SELECT * FROM " + qi(t.name) + ";\n";
    sql += "DROP TABLE " + qi(t.name) + ";\n";
    sql += "ALTER TABLE " + qi(tmp) + " RENAME TO " + qi(t.name) + ";\n";
    // Views before triggers: a trigger may not refer to them, but keep the original order otherwise.
    for (const std::string& o : again) sql += o + "\n";
    return sql;
  }

  // --- row edits
  // --------------------------------------------------------------------------------------------------

  void edit(int p, const Schema& s) {
    if (s.tables.empty()) return;
    std::string sql;
    std::vector<Event> events;
    std::set<std::string> deleted;  // "table\x1fid" of rows this batch already deleted
    for (int e = 0, n = 1 + pick(4); e < n; ++e) {
      const Table& t = any(s.tables);
      auto ids = try_local_rows(wc(p), "SELECT id, uid FROM " + qi(t.name) + " ORDER BY id");
      ASSERT_TRUE(ids) << "cannot read " << t.name;
      ids->erase(
          std::remove_if(ids->begin(), ids->end(),
                         [&](const std::vector<Value>& row) {
                           return deleted.count(t.name + "\x1f" + std::to_string(row[0].as_integer())) != 0;
                         }),
          ids->end());
      int kind = pick(10);
      if (kind < 4 || ids->empty()) {
        std::string uid = "~u" + std::to_string(++m_counter) + "~";
        std::string cols = "uid", vals = sq(uid);
        for (const Column& c : t.columns) {
          if (c.pk || lower_ascii(c.name) == "uid") continue;
          if (!c.not_null && !c.unique && c.fk_parent.empty() && chance(0.2)) continue;  // its default
          cols += ", " + qi(c.name);
          if (!c.fk_parent.empty())
            vals += ", " + fk_value(c);
          else if (c.unique)
            vals += ", " + sq(token());
          else
            vals += ", " + random_value(c);
        }
        sql += "INSERT INTO " + qi(t.name) + " (" + cols + ") VALUES (" + vals + ");\n";
        events.push_back({Event::insert, m_step, t.lid, -1, uid, ""});
      } else if (kind < 8) {
        const auto& row = any(*ids);
        std::vector<const Column*> cols;
        for (const Column& c : t.columns)
          if (editable(c) && c.fk_parent.empty()) cols.push_back(&c);
        if (cols.empty()) continue;
        const Column* target = any(cols);
        std::string tok = token();
        std::string set = qi(target->name) + " = " + sq("✓ " + tok);
        const Column* other = any(cols);
        bool both = other != target && chance(0.5);
        if (both)
          set += ", " + qi(other->name) + " = " + (other->unique ? sq(token()) : random_value(*other));
        sql += "UPDATE " + qi(t.name) + " SET " + set + " WHERE id = " + std::to_string(row[0].as_integer()) +
               ";\n";
        if (row[1].type() == ValueType::text)
          events.push_back({Event::update, m_step, t.lid, lid_of(target->name, 'c'), row[1].as_bytes(), tok});
        if (both && row[1].type() == ValueType::text)  // no token to look for, but it replaces earlier values
          events.push_back({Event::update, m_step, t.lid, lid_of(other->name, 'c'), row[1].as_bytes(), ""});
      } else {
        std::vector<const std::vector<Value>*> victims;
        for (const auto& row : *ids)
          if (row[1].type() != ValueType::text || row[1].as_bytes().rfind("seed", 0) != 0)
            victims.push_back(&row);
        if (victims.empty()) continue;
        const auto& row = *any(victims);
        sql += "DELETE FROM " + qi(t.name) + " WHERE id = " + std::to_string(row[0].as_integer()) + ";\n";
        deleted.insert(t.name + "\x1f" + std::to_string(row[0].as_integer()));
        if (row[1].type() == ValueType::text)
          events.push_back({Event::remove, m_step, t.lid, -1, row[1].as_bytes(), ""});
      }
    }
    if (sql.empty()) return;
    auto r = try_local_script(wc(p), sql);
    ASSERT_EQ(r.exit_code, 0) << "the application's edit failed (a test bug):\n" << sql << "\n" << r.err;
    m_history.push_back(std::string(1, "AB"[p]) + " edits: " + sql);
    for (auto& e : events) m_events.push_back(e);
  }

  // --- the end
  // ----------------------------------------------------------------------------------------------------

  std::string snapshot() {
    auto remote = [&](const std::string& sql) { return remote_rows(m_server.url(), sql); };
    std::string all = schema_meaning(remote) + rows_meaning(remote);
    for (int p = 0; p < 2; ++p) {
      auto local = [&](const std::string& sql) { return local_rows(wc(p), sql); };
      all += schema_meaning(local) + rows_meaning(local);
    }
    return all;
  }

  void quiesce() {
    m_history.push_back("--- quiesce");
    bool quiet = false;
    std::string before, after;
    for (int round = 0; round < 6 && !quiet; ++round) {
      before = snapshot();
      for (int p = 0; p < 2; ++p) ASSERT_NO_FATAL_FAILURE(sync_command(p, "sync"));
      after = snapshot();
      quiet = round > 0 && before == after;
    }
    if (!quiet) {
      std::istringstream b(before), a(after);
      std::string lb, la, moved;
      while (std::getline(b, lb) && std::getline(a, la))
        if (lb != la) moved += "  before: " + lb + "\n  after:  " + la + "\n";
      FAIL() << "the copies kept changing after 6 sync rounds:\n" << moved.substr(0, 4000);
    }
  }

  void check_end_state() {
    auto remote = [&](const std::string& sql) { return remote_rows(m_server.url(), sql); };
    std::string remote_schema = schema_meaning(remote), remote_data = rows_meaning(remote);
    for (int p = 0; p < 2; ++p) {
      for (const char* file : {"working_copy.db", "local_replica.db"}) {
        SCOPED_TRACE(std::string("copy ") + "AB"[p] + " " + file);
        std::string path = copy(p).file(file);
        auto local = [&](const std::string& sql) { return local_rows(path, sql); };
        std::string schema = schema_meaning(local), data = rows_meaning(local);
        EXPECT_TRUE(schema == remote_schema) << "the schema differs from the remote's (- remote, + local):\n"
                                             << line_diff(remote_schema, schema);
        EXPECT_TRUE(data == remote_data) << "the rows differ from the remote's (- remote, + local):\n"
                                         << line_diff(remote_data, data);
      }
      auto diff = cli(p, {"diff", "--exit-code"});
      EXPECT_EQ(diff.exit_code, 0) << "after quiescing:\n" << diff.out << diff.err;
    }

    // Where every uid is on the remote: table logical id, and the value of each column by logical id.
    struct Found {
      int count = 0;
      int table = -1;
      std::map<int, Value> columns;
    };
    std::map<std::string, Found> found;
    Rows tables = remote(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%' AND "
        "name NOT LIKE 'turso%'");
    for (const auto& t : tables) {
      std::string name = t[0].as_bytes();
      int lid = lid_of(name, 't');
      if (lid < 0) continue;
      Rows cols = table_columns(remote, name);
      std::string select;
      std::vector<int> col_lids;
      for (const auto& c : cols) {
        select += (select.empty() ? "" : ", ") + qi(c[0].as_bytes());
        col_lids.push_back(lower_ascii(c[0].as_bytes()) == "uid" ? -2 : lid_of(c[0].as_bytes(), 'c'));
      }
      for (const auto& row : remote("SELECT " + select + " FROM " + qi(name))) {
        std::string uid;
        for (size_t i = 0; i < row.size(); ++i)
          if (col_lids[i] == -2 && row[i].type() == ValueType::text) uid = row[i].as_bytes();
        Found& f = found[uid];
        ++f.count;
        f.table = lid;
        for (size_t i = 0; i < row.size(); ++i)
          if (col_lids[i] >= 0) f.columns[col_lids[i]] = row[i];
      }
    }
    std::string discarded = discarded_files_text(m_a) + discarded_files_text(m_b);

    auto later = [&](const Event& e, auto pred) {
      return std::any_of(m_events.begin(), m_events.end(),
                         [&](const Event& x) { return &x > &e && pred(x); });  // recorded in order
    };
    int lost = 0;
    for (const Event& e : m_events) {
      if (e.kind == Event::insert) {
        const Found* f = found.count(e.uid) ? &found[e.uid] : nullptr;
        int count = f ? f->count : 0;
        EXPECT_LE(count, 1) << "row " << e.uid << " is on the remote " << count << " times (doubled)";
        if (f) {
          EXPECT_EQ(f->table, e.table) << "row " << e.uid << " is in another table";
          continue;
        }
        bool may_vanish =
            std::any_of(m_events.begin(), m_events.end(),
                        [&](const Event& x) { return x.kind == Event::remove && x.uid == e.uid; }) ||
            later(e, [&](const Event& x) { return x.kind == Event::drop_table && x.table == e.table; });
        if (!may_vanish && discarded.find(e.uid) == std::string::npos) {
          ADD_FAILURE() << "row " << e.uid << " (inserted at step " << e.step
                        << ") is neither on the remote nor in a discarded-changes file";
          ++lost;
        }
      } else if (e.kind == Event::update && !e.token.empty()) {
        bool superseded = later(e, [&](const Event& x) {
          return (x.kind == Event::update && x.uid == e.uid && x.column == e.column) ||
                 (x.kind == Event::remove && x.uid == e.uid) ||
                 (x.kind == Event::drop_column && x.table == e.table && x.column == e.column) ||
                 (x.kind == Event::drop_table && x.table == e.table);
        });
        if (superseded) continue;
        const Found* f = found.count(e.uid) ? &found[e.uid] : nullptr;
        bool present = f && f->columns.count(e.column) && f->columns.at(e.column).type() == ValueType::text &&
                       f->columns.at(e.column).as_bytes().find(e.token) != std::string::npos;
        if (!present && discarded.find(e.token) == std::string::npos) {
          ADD_FAILURE() << "the update " << e.token << " of row " << e.uid << " column c" << e.column
                        << " (step " << e.step
                        << ") is neither on the remote nor in a discarded-changes file";
          ++lost;
        }
      }
    }
    (void)lost;
  }

  uint64_t m_seed;
  std::mt19937_64 m_rng;
  LocalServer m_server;
  TempDir m_a, m_b;
  bool m_plain = plain_names();
  int m_step = -1, m_counter = 0;
  std::vector<Event> m_events;
  std::vector<std::string> m_history;
};

uint64_t env_number(const char* name, uint64_t fallback) {
  const char* s = std::getenv(name);
  return s && *s ? std::strtoull(s, nullptr, 10) : fallback;
}

void run_migration_cases(uint64_t base, int cases, int steps) {
  steps = static_cast<int>(env_number("TURSO_SYNC_SCHEMA_STEPS", static_cast<uint64_t>(steps)));
  cases = static_cast<int>(env_number("TURSO_SYNC_SCHEMA_CASES", static_cast<uint64_t>(cases)));
  uint64_t fixed = env_number("TURSO_SYNC_SEED", 0);
  if (fixed != 0) cases = 1;
  SeedSequence seeds(base);
  int conflicts = 0, migrations = 0, attempts = 0;
  for (int i = 0; i < cases; ++i) {
    uint64_t seed = fixed != 0 ? fixed : (seeds.next() | 1);
    std::cout << "[ seed     ] TURSO_SYNC_SEED=" << seed << std::endl;
    SCOPED_TRACE("replay with TURSO_SYNC_SEED=" + std::to_string(seed));
    SchemaCase c(seed);
    c.run(steps);
    conflicts += c.conflicts;
    migrations += c.migrations;
    attempts += c.migration_attempts;
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "failing case: TURSO_SYNC_SEED=" << seed << "\nhistory:\n" << c.history();
      return;
    }
  }
  std::cout << "[ stats    ] " << cases << " cases x " << steps << " steps: " << migrations << " migrations ("
            << attempts << " tried), " << conflicts << " conflicts settled" << std::endl;
}

TEST(SchemaMigrationProperty, RandomMigrationsConverge) {
  run_migration_cases(7001, 4, 8);
}

TEST(SlowSchemaMigrationProperty, RandomMigrationsConverge) {
  run_migration_cases(7002, 24, 12);
}

}  // namespace
}  // namespace turso_sync::testing
