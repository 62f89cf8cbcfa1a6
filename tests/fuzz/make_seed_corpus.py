#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/seed-*): a handful of valid inputs
per target, in each target's input format (see the comment at the top of tests/fuzz/fuzz_<target>.cpp).
Crashing inputs found by fuzzing are kept next to them as regression-* files; this script leaves those alone.
Run it again after changing an input format: python3 tests/fuzz/make_seed_corpus.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# --- hrana: one byte N (statements / steps), then a /v2/pipeline answer ---------------------------------------
STMT_RESULT = ('{"cols":[{"name":"id","decltype":"INTEGER"},{"name":"v","decltype":null}],"rows":['
               '[{"type":"integer","value":"9223372036854775807"},{"type":"float","value":0.30000000000000004}],'
               '[{"type":"integer","value":"-9223372036854775808"},{"type":"float","value":-0.0}],'
               '[{"type":"blob","base64":"AAEC"},{"type":"text","value":"a\\u0000b\\ud83d\\ude00"}],'
               '[{"type":"null"},{"type":"float","value":5e-324}]],'
               '"affected_row_count":0,"last_insert_rowid":null,"replication_index":null,"rows_read":0,'
               '"rows_written":0,"query_duration_ms":0.0}')


def ok_execute(result=STMT_RESULT):
    return '{"type":"ok","response":{"type":"execute","result":' + result + '}}'


def pipeline(*results):
    return '{"baton":null,"base_url":null,"results":[' + ",".join(results) + ']}'


write("hrana", "execute-one", "\x01" + pipeline(ok_execute()))
write("hrana", "execute-two", "\x02" + pipeline(ok_execute(), ok_execute('{"cols":[],"rows":[]}')))
write("hrana", "execute-error", "\x01" + pipeline(
    '{"type":"error","error":{"message":"Runtime error: UNIQUE constraint failed: t.id (19)",'
    '"code":"EXECUTE_ERROR"}}'))
write("hrana", "empty-results", "\x00" + pipeline())
write("hrana", "batch", "\x03" + pipeline(
    '{"type":"ok","response":{"type":"batch","result":{"step_results":[' + STMT_RESULT +
    ',null,null],"step_errors":[null,{"message":"no such table: x","code":"SQLITE_ERROR"},null]}}}'))

# --- pull_updates: one byte S (chunking seed), then a /pull-updates body --------------------------------------


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field_len(n, data):
    return varint((n << 3) | 2) + varint(len(data)) + data


def field_varint(n, v):
    return varint(n << 3) + varint(v)


def delimited(msg):
    return varint(len(msg)) + msg


def header(revision, db_size, extra=b""):
    return delimited(field_len(1, revision) + field_varint(2, db_size) + field_len(3, b"") + extra)


def page(page_id, fill):
    body = (field_varint(1, page_id) if page_id else b"") + field_len(2, bytes([fill]) * 4096)
    return delimited(body)


write("pull_updates", "nothing-new", b"\x00" + header(b"35", 8))
write("pull_updates", "one-page", b"\x07" + header(b"36", 8) + page(0, 0x53))
write("pull_updates", "two-pages", b"\x2a" + header(b"37", 2) + page(1, 0xAB) + page(0, 0x00))
write("pull_updates", "zstd-header", b"\x01" + delimited(field_len(1, b"9") + field_varint(2, 3) + field_len(4, b"")))
write("pull_updates", "mvcc-header", b"\x02" + header(b"", 0, field_varint(5, 1) + field_varint(6, 1) +
                                                      field_len(7, b"") + field_varint(8, 0) + field_varint(99, 7)))

# --- dotenv: the text of a .env file ---------------------------------------------------------------------------
write("dotenv", "example", "# turso-sync\nTURSO_DATABASE_URL=libsql://app-org.turso.io\n"
      "TURSO_AUTH_TOKEN=eyJhbGciOi.payload.sig\nREPLICA_DB=local_replica.db  # comment\n")
write("dotenv", "quotes", "export A='single $x \\n # kept'\nB=\"dq \\\"q\\\" \\\\ \\t \\$HOME\nsecond line\"\n"
      "C=  spaced value  \nD=\nE=a#b\n")
write("dotenv", "crlf-bom", "\ufeffKEY=value\r\nexport OTHER=\"x\"\r\n# c\r\n")
write("dotenv", "errors", "NO_EQUALS\n1BAD=x\nA=\"unterminated\n")

# --- toml: the text of a turso-sync.toml -----------------------------------------------------------------------
write("toml", "full", 'url = "libsql://app-org.turso.io"\ntoken_env = "TURSO_AUTH_TOKEN"\n'
      'replica = "local_replica.db"\nworking = "working_copy.db"\ndiff = "diff.sql"\nstate_dir = ".turso-sync"\n'
      'interval = 300\nca_cert = "ca.pem"\nconnect_timeout_ms = 10000\nrequest_timeout_ms = 120000\n\n'
      '[databases.analytics]\nurl = "libsql://analytics-org.turso.io"\ntoken_env = "ANALYTICS_TOKEN"\n'
      'interval = 60\n\n[databases.email-2]\nreplica = "e.db"\n')
write("toml", "wrong-types", 'url = 5\ninterval = "300"\n[databases]\nx = 1\n')
write("toml", "token", 'token = "secret"\n')
write("toml", "inline", 'databases = { a = { url = "http://127.0.0.1:8080" }, b = {} }\nunknown = [1, 2.5, true]\n')

# --- url: one byte M (mode), then the URL ----------------------------------------------------------------------
for i, u in enumerate(["libsql://app-org.turso.io", "libsql://localhost:8080?tls=0", "https://db.example.com/base/",
                       "http://[::1]:8080", "wss://host:443/p?tls=1", "http://127.0.0.1:0"]):
    write("url", "url-%d" % i, "\x00" + u)
write("url", "userinfo", "\x01app-org.turso.io")
write("url", "auth-token", "\x02libsql://app-org.turso.io")
write("url", "bare-token", "\x03libsql://app-org.turso.io:8080?tls=0")

# --- sql_literal: one byte T (storage class), then the payload --------------------------------------------------
write("sql_literal", "null", b"\x00")
for name, v in [("int-min", -2**63), ("int-max", 2**63 - 1), ("int-minus-one", -1), ("int-zero", 0)]:
    write("sql_literal", name, b"\x01" + struct.pack("<q", v))
for name, v in [("real-tenth", 0.1), ("real-neg-zero", -0.0), ("real-subnormal", 5e-324),
                ("real-not-correctly-rounded", 4.4501477170144023e-308), ("real-max", 1.7976931348623157e308),
                ("real-inf", float("inf")), ("real-neg-inf", float("-inf")), ("real-nan", float("nan")),
                ("real-2pow53-plus", 9007199254740992.0), ("real-min-normal", 2.2250738585072014e-308)]:
    write("sql_literal", name, b"\x02" + struct.pack("<d", v))
write("sql_literal", "text-quotes-lines", b"\x03it's \"quoted\"\nline\r\n\ttab\x7f end -- ; /*")
write("sql_literal", "text-unicode", "\x03h\u00e9llo \u2713 \U0001d11e".encode())
write("sql_literal", "text-nul-invalid", b"\x03nul\x00inside \xff\xfe \xc0\xaf")
write("sql_literal", "text-empty", b"\x03")
write("sql_literal", "blob", b"\x04\x00\x01\xff'X")
write("sql_literal", "blob-empty", b"\x04")


# --- image_check: an SQLite database file of 4096-byte pages -------------------------------------------------
def database(statements, prologue=()):
    import sqlite3
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "seed.db")
        db = sqlite3.connect(path, isolation_level=None)
        for s in ("PRAGMA page_size=4096", "PRAGMA journal_mode=DELETE", *prologue):
            db.execute(s)
        for s in statements:
            db.execute(s)
        db.close()
        with open(path, "rb") as f:
            return f.read()


write("image_check", "rowid-table-and-index", database([
    "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL, b BLOB)", "CREATE INDEX t_name ON t(name)",
    "INSERT INTO t VALUES (1, 'a', 1.5, x'00'), (-9223372036854775808, 'min', -0.0, NULL),"
    " (9223372036854775807, 'max', 1e308, x'ff')"]))
write("image_check", "overflow-and-free-pages", database([
    "CREATE TABLE t(x)", "INSERT INTO t VALUES (zeroblob(9000)), ('short')", "CREATE TABLE gone(y)",
    "INSERT INTO gone VALUES (zeroblob(5000))", "DROP TABLE gone"]))
write("image_check", "without-rowid-view-trigger", database([
    "CREATE TABLE w(k TEXT PRIMARY KEY, v) WITHOUT ROWID", "INSERT INTO w VALUES ('a', 1), ('b', 2)",
    "CREATE VIEW v AS SELECT * FROM w", "CREATE TRIGGER tr AFTER INSERT ON w BEGIN SELECT 1; END"]))
write("image_check", "two-level-tree", database([
    "CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT)",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)"
    " INSERT INTO t SELECT i, printf('%040d', i) FROM n"]))
write("image_check", "auto-vacuum", database(["CREATE TABLE t(x)", "INSERT INTO t VALUES (1)"],
                                             prologue=("PRAGMA auto_vacuum=FULL",)))
