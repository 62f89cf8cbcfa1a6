#!/usr/bin/env python3
"""Baseline of the migration benchmark (bench/publish_run): what a user without turso-sync would do to move a
plain SQLite file into Turso. Reads the file's `sqlite3 FILE .dump`, splits it into statements and POSTs
them to URL/v2/pipeline in requests of about 1 MB. Python's standard library only.

usage: dump_upload.py URL DUMP_FILE [--mode execute|batch] [--request-bytes N]

  execute (default)  each request is a sequence of `execute`s: BEGIN, the statements, COMMIT
  batch              each request is one `batch`: BEGIN, the statements, COMMIT as its steps

Each request is its own transaction (a transaction cannot span requests without batons, which the local
server does not offer), so the dump's own BEGIN TRANSACTION / COMMIT lines are dropped. One HTTP connection,
kept alive. Exit 1 on the first statement the server refuses. Prints one summary line on stderr.
"""
import argparse
import http.client
import json
import sqlite3
import sys
import time
import urllib.parse

SKIPPED = {"BEGIN TRANSACTION;", "COMMIT;", "BEGIN;", "ROLLBACK;"}


def statements(path):
    """The dump's statements, one at a time (streamed: the dump is never held in memory)."""
    with open(path, encoding="utf-8", newline="") as f:
        buf = []
        for line in f:
            buf.append(line)
            if not line.rstrip().endswith(";"):
                continue
            text = "".join(buf)
            if not sqlite3.complete_statement(text):
                continue  # a ';' inside a string literal that spans lines
            buf = []
            text = text.strip()
            if text.upper() not in SKIPPED:
                yield text
        rest = "".join(buf).strip()
        if rest:
            yield rest


class Pipeline:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
        self.conn = cls(u.hostname, u.port, timeout=600)
        self.path = (u.path.rstrip("/") or "") + "/v2/pipeline"
        self.requests = 0
        self.bytes_sent = 0

    def post(self, body):
        data = json.dumps(body).encode()
        self.conn.request("POST", self.path, body=data, headers={"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        text = resp.read()
        self.requests += 1
        self.bytes_sent += len(data)
        if resp.status != 200:
            sys.exit(f"dump_upload: HTTP {resp.status}: {text[:500]!r}")
        return json.loads(text)


def send(pipe, stmts, mode):
    sqls = ["BEGIN"] + stmts + ["COMMIT"]
    if mode == "execute":
        answer = pipe.post({"requests": [{"type": "execute", "stmt": {"sql": s}} for s in sqls]})
        for i, r in enumerate(answer["results"]):
            if r["type"] != "ok":
                sys.exit(f"dump_upload: statement refused: {r.get('error')}: {sqls[i][:200]}")
    else:
        steps = [{"stmt": {"sql": s}} for s in sqls]
        answer = pipe.post({"requests": [{"type": "batch", "batch": {"steps": steps}}]})
        r = answer["results"][0]
        if r["type"] != "ok":
            sys.exit(f"dump_upload: batch refused: {r.get('error')}")
        for i, e in enumerate(r["response"]["result"]["step_errors"]):
            if e is not None:
                sys.exit(f"dump_upload: statement refused: {e}: {sqls[i][:200]}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("dump")
    p.add_argument("--mode", choices=["execute", "batch"], default="execute")
    p.add_argument("--request-bytes", type=int, default=1 << 20)
    args = p.parse_args()
    pipe = Pipeline(args.url)
    start = time.monotonic()
    pending, size, count = [], 0, 0
    for s in statements(args.dump):
        pending.append(s)
        size += len(s) + 40  # the statement's JSON envelope
        count += 1
        if size >= args.request_bytes:
            send(pipe, pending, args.mode)
            pending, size = [], 0
    if pending:
        send(pipe, pending, args.mode)
    print(f"dump_upload: {count} statements in {pipe.requests} requests ({pipe.bytes_sent} bytes, "
          f"mode {args.mode}) in {time.monotonic() - start:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
