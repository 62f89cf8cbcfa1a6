#!/usr/bin/env python3
"""Independent path to a remote for tests: POSTs SQL statements to URL/v2/pipeline with Python's standard
library (not turso-sync's client) and prints each statement's rows as JSON lines of [type, value] pairs, where
value is the server's own JSON value (integers as strings, floats as numbers, blobs as base64).

usage: hrana_query.py URL SQL [SQL ...]        exit 1 and the error on stderr if a statement fails
"""
import json
import sys
import urllib.request


def main():
    url, stmts = sys.argv[1].rstrip("/"), sys.argv[2:]
    body = {"requests": [{"type": "execute", "stmt": {"sql": s}} for s in stmts]}
    req = urllib.request.Request(url + "/v2/pipeline", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        answer = json.load(resp)
    for result in answer["results"]:
        if result["type"] != "ok":
            print(json.dumps(result.get("error")), file=sys.stderr)
            sys.exit(1)
        for row in result["response"]["result"]["rows"]:
            cells = []
            for cell in row:
                kind = cell["type"]
                value = cell.get("base64") if kind == "blob" else cell.get("value")
                cells.append([kind, value])
            print(json.dumps(cells))


if __name__ == "__main__":
    main()
