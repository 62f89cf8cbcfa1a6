// The catalog (issue 19): one schema holding what applications use together goes through init, seeded random
// edits on two copies, push, pull and sync in random order, converges and stays exact.
// Synced: an AUTOINCREMENT table whose trigger writes an AUTOINCREMENT audit log (events), sized types
// (VARCHAR(12), DECIMAL(10,2)), CHECK (with json_valid over JSON text), COLLATE NOCASE (a UNIQUE column, a
// TEXT key), a generated column, partial and expression indexes, a STRICT table with a TEXT key, a WITHOUT
// ROWID table with a composite key, a wide-ish table (120 columns). Local on each copy: an external-content
// FTS5 index of the notes with its triggers (the server has no FTS5; docs/conflicts.md and README "Tables
// that stay local") and a table named by TURSO_SYNC_LOCAL_TABLES. The local server cannot take STRICT and
// WITHOUT ROWID on one table (it stores "WITHOUT ROWID STRICT", which it then cannot parse), so they are two
// tables, and it runs no UPDATE or DELETE of a WITHOUT ROWID table, so that one only gets inserts.
// Values: REALs bit-exact (0.1 + 0.2, extremes, random bit patterns), NULLs, BLOBs, unicode and quotes, JSON.
// Conflicts are settled as docs/conflicts.md says: `abort` (the default) applies nothing, then `local` or
// `remote` decides. At the end both working copies, the remote (read through the independent path) and a
// third copy made by init hold the same rows, exactly; integrity_check is ok; sqlite_sequence is never below
// the largest id; each copy's full-text index matches its notes; each local table is as its copy wrote it.
//
// Seeds: a fixed sequence (3 runs of 20 rounds; TURSO_SYNC_CATALOG_RUNS=N for more, TURSO_SYNC_RANDOM_SEEDS=1
// for fresh ones); a failure prints its seed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "support/sync_checks.h"
#include "support/tcp_proxy.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

constexpr int kWideColumns = 120;
constexpr int kRounds = 20;

std::vector<std::string> catalog_schema() {
  std::string wide = "CREATE TABLE wideish (id INTEGER PRIMARY KEY";
  for (int i = 1; i < kWideColumns; ++i) wide += ", c" + std::to_string(i) + (i % 3 == 0 ? " REAL" : "");
  wide += ")";
  return {
      "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL COLLATE NOCASE UNIQUE, "
      "name VARCHAR(12), balance DECIMAL(10,2) CHECK (balance >= 0), profile TEXT CHECK (profile IS NULL OR "
      "json_valid(profile)))",
      "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT NOT NULL, user_id INTEGER)",
      "CREATE TRIGGER users_audit AFTER INSERT ON users BEGIN INSERT INTO audit (what, user_id) VALUES "
      "('user "
      "created', new.id); END",
      "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER, body TEXT, score REAL, data BLOB, "
      "body_len INTEGER GENERATED ALWAYS AS (length(body)) VIRTUAL)",
      "CREATE INDEX notes_user ON notes (user_id) WHERE user_id IS NOT NULL",
      "CREATE INDEX notes_lower ON notes (lower(body))",
      "CREATE TABLE tags (name TEXT PRIMARY KEY COLLATE NOCASE, color TEXT, weight REAL) STRICT",
      "CREATE TABLE kv (ns TEXT NOT NULL, k INTEGER NOT NULL, v, PRIMARY KEY (ns, k)) WITHOUT ROWID",
      wide,
      "INSERT INTO users (email, name, balance, profile) VALUES ('Seed@Example.com', 'seed', 10.25, "
      "'{\"since\":2020}')",
      "INSERT INTO notes (user_id, body, score, data) VALUES (1, 'apple seed note', 0.5, x'00ff')",
      "INSERT INTO tags VALUES ('Seed', 'green', 1.5)",
      "INSERT INTO kv VALUES ('a', 0, 'zero')",
      "INSERT INTO wideish (id, c1, c3, c119) VALUES (1, 'one', 3.25, x'01')",
  };
}

// The standard FTS5 recipe over notes, on each copy (the server has no FTS5).
constexpr const char* kFtsRecipe =
    "CREATE VIRTUAL TABLE notes_fts USING fts5(body, content='notes', content_rowid='id');"
    "INSERT INTO notes_fts(notes_fts) VALUES ('rebuild');"
    "CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN "
    "  INSERT INTO notes_fts(rowid, body) VALUES (new.id, new.body); END;"
    "CREATE TRIGGER notes_ad AFTER DELETE ON notes BEGIN "
    "  INSERT INTO notes_fts(notes_fts, rowid, body) VALUES ('delete', old.id, old.body); END;"
    "CREATE TRIGGER notes_au AFTER UPDATE ON notes BEGIN "
    "  INSERT INTO notes_fts(notes_fts, rowid, body) VALUES ('delete', old.id, old.body);"
    "  INSERT INTO notes_fts(rowid, body) VALUES (new.id, new.body); END;";

const std::vector<std::string> kWords = {"apple", "banana", "cherry", "damson", "elder", "fig"};

// Every synced table, as compared: the whole row in key order (generated column included).
const std::vector<std::string> kCompared = {
    "SELECT * FROM users ORDER BY id", "SELECT * FROM audit ORDER BY id",
    "SELECT * FROM notes ORDER BY id", "SELECT * FROM tags ORDER BY name",
    "SELECT * FROM kv ORDER BY ns, k", "SELECT * FROM wideish ORDER BY id"};

std::string text_literal(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string hex_digits(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) out += std::string{digits[c >> 4], digits[c & 15]};
  return out;
}

// One copy: its directory, its environment (its local table), what it wrote to its local table.
struct CatalogCopy {
  std::string name;
  TempDir dir;
  std::vector<std::string> env;
  Rows drafts;
  std::string wc() const { return dir.file("working_copy.db"); }
};

class Catalog {
 public:
  explicit Catalog(uint64_t seed) : m_rng(seed) {}

  uint64_t pick(uint64_t n) { return m_rng() % n; }
  bool chance(int percent) { return pick(100) < static_cast<uint64_t>(percent); }

  std::string text() {
    static const std::vector<std::string> pieces = {
        "plain", "ü", "日本語", "emoji 😀", "quote '", "dq \"", "", "tab\there", "new\nline", "%_", "Ω≈ç"};
    std::string out;
    for (uint64_t i = 0, n = 1 + pick(3); i < n; ++i) out += (i ? " " : "") + pieces[pick(pieces.size())];
    return out;
  }

  // At most 12 characters (VARCHAR(12), which SQLite does not enforce).
  std::string short_text() {
    static const std::vector<std::string> pieces = {"ana", "Bö", "李", "o'hara", "\"q\"", ""};
    return pieces[pick(pieces.size())];
  }

  std::string real() {
    switch (pick(6)) {
      case 0:
        return sql_real(0.1 + 0.2);
      case 1:
        return sql_real(pick(2) ? 1.7976931348623157e308 : -2.2250738585072014e-308);
      case 2:
        return sql_real(static_cast<double>(static_cast<int64_t>(m_rng() >> 11)) / 3.0);
      default: {
        double d;
        do {
          uint64_t bits = m_rng();
          std::memcpy(&d, &bits, sizeof d);
        } while (!std::isfinite(d) || d == 0.0 || std::fpclassify(d) == FP_SUBNORMAL);
        return sql_real(d);
      }
    }
  }

  std::string blob() {
    std::string bytes;
    for (uint64_t i = 0, n = pick(24); i < n; ++i) bytes += static_cast<char>(pick(256));
    return "x'" + hex_digits(bytes) + "'";
  }

  std::string value() {
    switch (pick(6)) {
      case 0:
        return "NULL";
      case 1:
        return std::to_string(static_cast<int64_t>(m_rng()) >> pick(63));
      case 2:
        return real();
      case 3:
        return blob();
      default:
        return text_literal(text());
    }
  }

  // A note body: words of the full-text vocabulary, separated by spaces, around other text.
  std::string body() {
    std::string out = kWords[pick(kWords.size())];
    for (uint64_t i = 0, n = pick(3); i < n; ++i)
      out += " " + (pick(2) ? kWords[pick(kWords.size())] : text());
    return text_literal(out);
  }

  std::string json() {
    if (chance(25)) return "NULL";
    return "json_object('n', " + std::to_string(pick(1000)) + ", 's', " + text_literal(text()) +
           ", 'list', json_array(" + real() + ", NULL, " + text_literal(text()) + "))";
  }

  // An id of `table` on `wc`, or 0 when it has none.
  int64_t some_id(const std::string& wc, const std::string& table) {
    Rows ids = local_rows(wc, "SELECT id FROM " + table + " ORDER BY id");
    return ids.empty() ? 0 : ids[pick(ids.size())][0].as_integer();
  }

  // One random edit of the application on `copy`, as SQL.
  std::string edit(CatalogCopy& copy) {
    const std::string wc = copy.wc();
    ++m_counter;
    switch (pick(12)) {
      case 0:
        return "INSERT INTO users (email, name, balance, profile) VALUES ('" + copy.name +
               std::to_string(m_counter) + "@Example.COM', " + text_literal(short_text()) + ", " +
               (pick(2) ? std::to_string(pick(100000)) + " / 100.0" : std::to_string(pick(50))) + ", " +
               json() + ")";
      case 1:
        if (int64_t id = some_id(wc, "users"))
          return "UPDATE users SET " +
                 std::string(pick(2) ? "name = " + text_literal(short_text()) : "balance = balance + 1.25") +
                 ", profile = " + json() + " WHERE id = " + std::to_string(id);
        return "SELECT 1";
      case 2:
        if (int64_t id = some_id(wc, "users"); id > 1)
          return "DELETE FROM users WHERE id = " + std::to_string(id);
        return "SELECT 1";
      case 3:
      case 4:
        return "INSERT INTO notes (user_id, body, score, data) VALUES (" +
               (pick(3) ? std::to_string(some_id(wc, "users")) : std::string("NULL")) + ", " + body() + ", " +
               real() + ", " + (pick(4) ? blob() : std::string("NULL")) + ")";
      case 5:
        if (int64_t id = some_id(wc, "notes"))
          return "UPDATE notes SET " + std::string(pick(2) ? "body = " + body() : "score = " + real()) +
                 ", data = " + blob() + " WHERE id = " + std::to_string(id);
        return "SELECT 1";
      case 6:
        if (int64_t id = some_id(wc, "notes")) return "DELETE FROM notes WHERE id = " + std::to_string(id);
        return "SELECT 1";
      case 7: {
        static const std::vector<std::string> names = {"Red", "red", "BLUE", "Green", "gelb", "Ünï"};
        std::string name = text_literal(names[pick(names.size())]);
        if (chance(25)) return "DELETE FROM tags WHERE name = " + name;
        return "INSERT OR REPLACE INTO tags VALUES (" + name + ", " +
               (pick(3) ? text_literal(text()) : "NULL") + ", " + real() + ")";
      }
      case 8:
        // Inserts only: the local server runs no UPDATE or DELETE of a WITHOUT ROWID table (it answers "not
        // supported"), so each copy appends rows of its own keys.
        return "INSERT INTO kv VALUES (" + text_literal(copy.name) + ", " + std::to_string(m_counter) + ", " +
               value() + ")";
      case 9: {
        std::string cols = "id", values = "NULL";
        for (int i = 0; i < 8; ++i) {
          cols += ", c" + std::to_string(1 + i * 14 + static_cast<int>(pick(14)));
          values += ", " + value();
        }
        return "INSERT INTO wideish (" + cols + ") VALUES (" + values + ")";
      }
      case 10:
        if (int64_t id = some_id(wc, "wideish")) {
          if (chance(20)) return "DELETE FROM wideish WHERE id = " + std::to_string(id);
          return "UPDATE wideish SET c" + std::to_string(1 + pick(kWideColumns - 1)) + " = " + value() +
                 ", c" + std::to_string(1 + pick(kWideColumns - 1)) + " = " + value() +
                 " WHERE id = " + std::to_string(id);
        }
        return "SELECT 1";
      default: {
        std::string t = text();
        copy.drafts.push_back({I(static_cast<int64_t>(copy.drafts.size()) + 1), T(t)});
        return "INSERT INTO drafts (text) VALUES (" + text_literal(t) + ")";
      }
    }
  }

 private:
  std::mt19937_64 m_rng;
  int m_counter = 0;
};

// Every synced table of `wc`, one block of rows per table (to tell "nothing applied").
std::vector<Rows> contents(const std::string& wc) {
  std::vector<Rows> out;
  for (const std::string& sql : kCompared) out.push_back(local_rows(wc, sql));
  return out;
}

// The AUTOINCREMENT counters of `rows` (name, seq) are at least the largest id of their table.
void expect_counters_cover(const std::string& where, const Rows& counters, const Rows& max_ids) {
  for (size_t i = 0; i < max_ids.size(); ++i) {
    const Value& max = max_ids[i][1];
    if (max.is_null()) continue;
    bool found = false;
    for (const auto& c : counters)
      if (c[0] == max_ids[i][0]) {
        found = true;
        EXPECT_GE(c[1].as_integer(), max.as_integer())
            << where << ": sqlite_sequence of " << render_rows({c});
      }
    EXPECT_TRUE(found) << where << ": no sqlite_sequence row for " << render_rows({max_ids[i]});
  }
}

constexpr const char* kCounters = "SELECT name, seq FROM sqlite_sequence WHERE name IN ('users', 'audit')";
constexpr const char* kMaxIds =
    "SELECT 'users', (SELECT max(id) FROM users) UNION ALL SELECT 'audit', (SELECT max(id) FROM audit)";

void expect_counters_local(const std::string& wc) {
  expect_counters_cover(wc, local_rows(wc, kCounters), local_rows(wc, kMaxIds));
}

// The copy's full-text index matches its notes: FTS5's integrity-check, and each word finds exactly the
// notes whose body holds it.
void expect_index_follows_notes(const std::string& wc) {
  local_exec(wc, "INSERT INTO notes_fts(notes_fts) VALUES ('integrity-check')");
  for (const std::string& w : kWords)
    EXPECT_EQ(
        local_rows(wc, "SELECT rowid FROM notes_fts WHERE notes_fts MATCH '" + w + "' ORDER BY rowid"),
        local_rows(wc, "SELECT id FROM notes WHERE ' ' || body || ' ' LIKE '% " + w + " %' ORDER BY id"))
        << wc << " word " << w;
}

void run_catalog(uint64_t seed) {
  SCOPED_TRACE("seed " + std::to_string(seed) + " (TURSO_SYNC_RANDOM_SEEDS=1 runs fresh ones)");
  LocalServer server({"--experimental-generated-columns"});
  ASSERT_TRUE(server.started());
  const std::string& url = server.url();
  remote_exec(url, catalog_schema());
  CatalogCopy copies[2] = {{"a", {}, {}, {}}, {"b", {}, {}, {}}};
  for (CatalogCopy& c : copies) {
    c.env = env_for(url);
    c.env.push_back("TURSO_SYNC_LOCAL_TABLES=drafts");
    auto r = run_cli({"init"}, c.env, c.dir.path());
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    local_exec(c.wc(), std::string(kFtsRecipe) + "CREATE TABLE drafts (id INTEGER PRIMARY KEY, text TEXT);");
  }
  Catalog cat(seed);
  struct {
    int pushes = 0, staged = 0, refused_pushes = 0, refused_pulls = 0;
  } stats;
  for (int round = 0; round < kRounds; ++round) {
    CatalogCopy& c = copies[cat.pick(2)];
    SCOPED_TRACE("round " + std::to_string(round) + " on " + c.name);
    std::string edits;
    for (uint64_t i = 0, n = 1 + cat.pick(5); i < n; ++i) edits += cat.edit(c) + ";\n";
    local_exec(c.wc(), edits);
    const uint64_t op = cat.pick(3);
    if (op == 0) {
      // Half of the pushes staged (parts of 2 kB: a few rows each; docs/protocol.md "Push: staged").
      std::vector<std::string> env = c.env;
      if (cat.pick(2)) env.push_back("TURSO_SYNC_PUSH_PART_BYTES=2000");
      std::vector<std::string> remote_before = remote_query(url, kCompared);
      auto r = run_cli({"push"}, env, c.dir.path());
      ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 3) << edits << r.out << r.err;
      if (r.exit_code == 3) {
        EXPECT_EQ(remote_query(url, kCompared), remote_before) << "a refused push changed the remote\n"
                                                               << r.err;
        EXPECT_EQ(staging_left(url), 0);
      }
      ++(r.exit_code == 3                               ? stats.refused_pushes
         : r.out.find("staged in") != std::string::npos ? stats.staged
                                                        : stats.pushes);
    } else {
      std::vector<Rows> before = contents(c.wc());
      auto r = run_cli({op == 1 ? "pull" : "sync"}, c.env, c.dir.path());
      ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 3) << edits << r.out << r.err;
      if (r.exit_code == 3) {
        ++stats.refused_pulls;
        if (op == 1) {
          EXPECT_EQ(contents(c.wc()), before) << "a refused pull changed the working copy\n" << r.err;
        }
        std::string policy = cat.pick(2) ? "--on-conflict=local" : "--on-conflict=remote";
        r = run_cli({op == 1 ? "pull" : "sync", policy}, c.env, c.dir.path());
        ASSERT_EQ(r.exit_code, 0) << policy << "\n" << edits << r.out << r.err;
      }
    }
    expect_counters_local(c.wc());
    expect_integrity_ok(c.wc());
  }

  // Converge: each copy syncs (yours kept), until neither has anything to push.
  for (int pass = 0; pass < 3; ++pass)
    for (CatalogCopy& c : copies) {
      auto r = run_cli({"sync", "--on-conflict=local"}, c.env, c.dir.path());
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
  std::printf(
      "catalog seed %llu: %d pushes in one batch, %d staged, %d refused; %d pulls or syncs refused; "
      "%lld notes, %lld users\n",
      static_cast<unsigned long long>(seed), stats.pushes, stats.staged, stats.refused_pushes,
      stats.refused_pulls, static_cast<long long>(remote_count(url, "SELECT count(*) FROM notes")),
      static_cast<long long>(remote_count(url, "SELECT count(*) FROM users")));
  // Two new copies: init by pages, and by SQL (through a proxy that has no /pull-updates).
  TempDir third, fourth;
  TcpProxy proxy(server.port());
  proxy.answer_not_found("POST /pull-updates");
  auto r = run_cli({"init"}, env_for(url), third.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run_cli({"init"}, env_for(proxy.url()), fourth.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string wc3 = third.file("working_copy.db"), wc4 = fourth.file("working_copy.db");
  for (const std::string& sql : kCompared) {
    expect_same_local(copies[0].wc(), copies[1].wc(), sql);
    expect_same(url, copies[0].wc(), sql);
    expect_same_local(copies[0].wc(), wc3, sql);
    expect_same_local(copies[0].wc(), wc4, sql);
  }
  expect_counters_cover("remote", remote_rows(url, kCounters), remote_rows(url, kMaxIds));
  for (const std::string& wc : {wc3, wc4}) {
    expect_counters_local(wc);
    expect_integrity_ok(wc);
  }
  EXPECT_EQ(
      remote_count(url,
                   "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'notes_fts%' OR name LIKE 'notes_a_' "
                   "OR name = 'drafts'"),
      0);
  EXPECT_EQ(
      local_count(wc3, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'notes_fts%' OR name = 'drafts'"),
      0);
  for (CatalogCopy& c : copies) {
    SCOPED_TRACE("copy " + c.name);
    r = run_cli({"diff", "--exit-code"}, c.env, c.dir.path());
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    expect_integrity_ok(c.wc());
    expect_counters_local(c.wc());
    expect_index_follows_notes(c.wc());
    EXPECT_EQ(local_rows(c.wc(), "SELECT id, text FROM drafts ORDER BY id"), c.drafts);
  }
}

TEST(Catalog, OneSchemaOfEverythingConvergesExactlyOnTwoCopies) {
  const char* runs_env = std::getenv("TURSO_SYNC_CATALOG_RUNS");
  int runs = runs_env && *runs_env ? std::atoi(runs_env) : 3;
  SeedSequence seeds(0xca7a109);
  for (int i = 0; i < runs; ++i) {
    uint64_t seed = seeds.next();
    std::printf("catalog seed %llu\n", static_cast<unsigned long long>(seed));
    run_catalog(seed);
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace turso_sync::testing
