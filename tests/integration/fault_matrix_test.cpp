// The fault matrix (issue 12; exit codes as the README lists them, docs/protocol.md timeouts and retries,
// atomic writes): every network fault the test proxy can make, for every operation that talks to the remote —
// `init`, `pull` on the page path and on the SQL path, `push`, `sync` and one `workflow --once` cycle —
// against the real local server.
//
// Each cell: the fault starts at the operation's key request and stays for the rest of the command (429 is a
// single refusal: the client must wait and ask again). The command completes, or fails with the documented
// exit code and a message naming the URL and what went wrong. With the fault removed, the same command
// succeeds, a `sync` sends the local edits, and then the remote (read directly, not through the proxy) holds
// each pushed row exactly once, the working copy and the replica hold every remote row, nothing is left to
// push, and both files pass integrity_check.
//
// The page protocol alone (init and pull with only their `/pull-updates` requests faulted): the command takes
// the SQL path and succeeds, state.json says why, and the next run is back on pages.
//
// `make test` runs one cell per fault (each operation at least once); `FaultMatrix.Slow*` runs all of them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/sync_checks.h"
#include "support/tcp_proxy.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

using Fault = TcpProxy::Fault;

// init_pages_only and pull_pages_only fault the page protocol alone: every `/pull-updates` request of the
// command, while `/v2/pipeline` requests pass (a server or a gateway whose page endpoint misbehaves).
enum class Op { init, pull_pages, pull_sql, push, sync, workflow, init_pages_only, pull_pages_only };

enum class NetFault {
  refused,             // nothing listens at the URL
  cut_request,         // the connection closes before the request reaches the server
  lost_answer,         // the server ran the request; its answer never arrives
  timeout,             // no answer within the request timeout (the server never sees the request)
  truncated,           // half of the answer's body, then the connection closes
  http_500,            // the server (or a gateway) answers 500 without running the request
  http_502,            // 502
  http_503,            // 503
  committed_then_503,  // the server ran the request; the client gets 503
  rate_limited,        // one 429 with Retry-After: 1; the next request passes
  garbage,             // the server ran the request; every byte of the answer's body is 0xFF
  wrong_shape,         // the server ran the request; the client gets 200 with JSON of another shape
};

const char* name(Op op) {
  switch (op) {
    case Op::init:
      return "init";
    case Op::pull_pages:
      return "pull (page path)";
    case Op::pull_sql:
      return "pull (SQL path)";
    case Op::push:
      return "push";
    case Op::sync:
      return "sync";
    case Op::workflow:
      return "workflow --once";
    case Op::init_pages_only:
      return "init (its /pull-updates requests only)";
    case Op::pull_pages_only:
      return "pull (its /pull-updates requests only)";
  }
  return "?";
}

const char* name(NetFault f) {
  switch (f) {
    case NetFault::refused:
      return "connection refused";
    case NetFault::cut_request:
      return "request cut";
    case NetFault::lost_answer:
      return "answer lost after the server ran it";
    case NetFault::timeout:
      return "no answer within the timeout";
    case NetFault::truncated:
      return "truncated body";
    case NetFault::http_500:
      return "HTTP 500";
    case NetFault::http_502:
      return "HTTP 502";
    case NetFault::http_503:
      return "HTTP 503";
    case NetFault::committed_then_503:
      return "HTTP 503 after the server ran it";
    case NetFault::rate_limited:
      return "HTTP 429 with Retry-After";
    case NetFault::garbage:
      return "a body of garbage";
    case NetFault::wrong_shape:
      return "JSON of the wrong shape";
  }
  return "?";
}

const std::vector<Op> kOps = {Op::init, Op::pull_pages, Op::pull_sql,        Op::push,
                              Op::sync, Op::workflow,   Op::init_pages_only, Op::pull_pages_only};
const std::vector<NetFault> kFaults = {
    NetFault::refused,      NetFault::cut_request, NetFault::lost_answer,
    NetFault::timeout,      NetFault::truncated,   NetFault::http_500,
    NetFault::http_502,     NetFault::http_503,    NetFault::committed_then_503,
    NetFault::rate_limited, NetFault::garbage,     NetFault::wrong_shape};

std::vector<std::string> args_of(Op op) {
  switch (op) {
    case Op::init:
    case Op::init_pages_only:
      return {"init"};
    case Op::pull_pages:
    case Op::pull_sql:
    case Op::pull_pages_only:
      return {"pull"};
    case Op::push:
      return {"push"};
    case Op::sync:
      return {"sync"};
    case Op::workflow:
      return {"workflow", "--once"};
  }
  return {};
}

// The request from which on the fault applies: the push's batch for push and sync (sync's pull then went
// through, so the fault meets the push half), the first request otherwise.
std::string trigger_of(Op op) {
  return op == Op::push || op == Op::sync ? "BEGIN IMMEDIATE" : "";
}

const char* kPullUpdates = "POST /pull-updates";

bool pages_only(Op op) {
  return op == Op::init_pages_only || op == Op::pull_pages_only;
}

Fault proxy_fault(NetFault f) {
  switch (f) {
    case NetFault::refused:  // not the proxy's: the URL names a port nothing listens on
    case NetFault::cut_request:
      return Fault::cut_request;
    case NetFault::lost_answer:
      return Fault::drop_response_after_forwarding;
    case NetFault::timeout:
      return Fault::hold;
    case NetFault::truncated:
      return Fault::truncate_response;
    case NetFault::http_500:
      return Fault::http_500;
    case NetFault::http_502:
      return Fault::http_502;
    case NetFault::http_503:
      return Fault::http_503;
    case NetFault::committed_then_503:
      return Fault::http_503_after_forwarding;
    case NetFault::rate_limited:
      return Fault::rate_limit;
    case NetFault::garbage:
      return Fault::garble_response;
    case NetFault::wrong_shape:
      return Fault::wrong_shape_response;
  }
  return Fault::none;
}

// What the faulted command must end with: its exit code (README: 4 when the remote is unreachable, does not
// answer in time, answers 5xx or does not answer as a Turso server does) and a phrase of its message.
struct Expected {
  int exit_code;
  std::string phrase;
};

Expected expected_of(Op op, NetFault f) {
  // The page protocol failing alone never fails the command: it takes the SQL path (run_cell checks that
  // state.json records why).
  if (pages_only(op)) return {0, ""};
  switch (f) {
    case NetFault::refused:
      return {4, "connection refused by 127.0.0.1 port"};
    case NetFault::cut_request:
    case NetFault::lost_answer:
      return {4, "closed the connection without answering"};
    case NetFault::timeout:
      return {4, "timed out"};
    case NetFault::truncated:
      return {4, "bytes remaining"};
    case NetFault::http_500:
      return {4, "HTTP 500"};
    case NetFault::http_502:
      return {4, "HTTP 502"};
    case NetFault::http_503:
    case NetFault::committed_then_503:
      return {4, "HTTP 503"};
    case NetFault::rate_limited:
      return {0, ""};
    case NetFault::garbage:
      return {4, "did not answer as a Turso server does"};
    case NetFault::wrong_shape:  // issue 21: was exit 1 with the parser's message
      return {4, "did not answer as a Turso server does"};
  }
  return {-1, ""};
}

const char* kCellEmailsSql = "SELECT id, recipient, subject, score FROM emails ORDER BY id";

const std::vector<std::string> kCellSchema = {
    "CREATE TABLE emails (id INTEGER PRIMARY KEY, recipient TEXT, subject TEXT, score REAL)",
    "INSERT INTO emails VALUES (1, 'seed-1', 's1', 0.5), (2, 'seed-2', 's2', 1.5), (3, 'seed-3', 's3', "
    "0.25), "
    "(4, 'seed-4', 's4', NULL)",
};
// A teammate's change, made on the remote before the faulted command.
const std::vector<std::string> kRemoteEdits = {
    "INSERT INTO emails VALUES (100, 'theirs-1', 't1', 3.0)",
    "UPDATE emails SET subject = 'theirs' WHERE id = 1",
};
// The application's change in the working copy (other rows than the teammate's).
const char* kCellLocalEdits =
    "INSERT INTO emails (id, recipient, subject, score) VALUES (200, 'mine-1', 'm1', 0.125), "
    "(201, 'mine-2', NULL, -2.0);"
    "UPDATE emails SET subject = 'changed' WHERE id = 2;"
    "DELETE FROM emails WHERE id = 4;";
// The remote once both changes are in, with each row once.
const Rows kConverged = {
    {I(1), T("seed-1"), T("theirs"), R(0.5)}, {I(2), T("seed-2"), T("changed"), R(1.5)},
    {I(3), T("seed-3"), T("s3"), R(0.25)},    {I(100), T("theirs-1"), T("t1"), R(3.0)},
    {I(200), T("mine-1"), T("m1"), R(0.125)}, {I(201), T("mine-2"), N(), R(-2.0)},
};

// expect_integrity_ok (support/sync_checks.h) where the file exists: a faulted init may leave none.
void expect_integrity_ok_if_present(const std::string& path) {
  if (fs::exists(path)) expect_integrity_ok(path);
}

// Runs one cell of the matrix on a fresh server, proxy and directory.
void run_cell(Op op, NetFault fault) {
  SCOPED_TRACE(std::string(name(fault)) + " during " + name(op));
  LocalServer server;
  ASSERT_TRUE(server.started());
  TcpProxy proxy(server.port());
  TempDir dir;
  remote_exec(server.url(), kCellSchema);
  std::string wc = dir.file("working_copy.db"), replica = dir.file("local_replica.db");
  // Retries stay (they are part of what is tested) but wait 1, 2, 4 ms instead of 200, 400, 800.
  std::vector<std::string> env = {"TURSO_DATABASE_URL=" + proxy.url(), "TURSO_SYNC_RETRY_BACKOFF_MS=1"};
  auto run = [&](const std::vector<std::string>& args, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> e = env;
    e.insert(e.end(), extra.begin(), extra.end());
    return run_cli(args, e, dir.path());
  };

  bool init = op == Op::init || op == Op::init_pages_only;
  if (!init) {
    auto r = run({"init"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    ASSERT_NO_FATAL_FAILURE(local_exec(wc, kCellLocalEdits));
  }
  remote_exec(server.url(), kRemoteEdits);
  if (op == Op::pull_sql) proxy.answer_not_found("POST /pull-updates");

  // The faulted command.
  std::vector<std::string> extra;
  std::string url_shown = proxy.url();
  if (fault == NetFault::refused) {
    url_shown = "http://127.0.0.1:" + std::to_string(free_port());
    extra.push_back("TURSO_DATABASE_URL=" + url_shown);
  } else if (fault == NetFault::rate_limited) {
    proxy.arm_once(proxy_fault(fault),
                   op == Op::pull_pages || pages_only(op) ? kPullUpdates : trigger_of(op));
  } else if (pages_only(op)) {
    proxy.set_mode(proxy_fault(fault), kPullUpdates);
  } else {
    proxy.arm_once(proxy_fault(fault), trigger_of(op), proxy_fault(fault));
  }
  // A held request ends when the client gives up: after the request timeout.
  if (fault == NetFault::timeout) extra.push_back("TURSO_SYNC_REQUEST_TIMEOUT_MS=500");
  auto faulted = run(args_of(op), extra);
  if (fault != NetFault::refused) {
    EXPECT_GT(proxy.faults_injected(), 0) << "the fault never met a request\n" << faulted.out << faulted.err;
  }
  Expected want = expected_of(op, fault);
  EXPECT_EQ(faulted.exit_code, want.exit_code) << faulted.out << faulted.err;
  if (want.exit_code != 0) {
    std::string said = faulted.out + faulted.err;
    EXPECT_NE(said.find(url_shown), std::string::npos) << "the message does not name the URL:\n" << said;
    EXPECT_NE(said.find(want.phrase), std::string::npos)
        << "the message does not say \"" << want.phrase << "\":\n"
        << said;
  }
  if (init && faulted.exit_code != 0) {
    EXPECT_FALSE(fs::exists(wc)) << "a failed init left a working copy";
    EXPECT_FALSE(fs::exists(replica)) << "a failed init left a replica";
  }
  std::string state_file = dir.file(".turso-sync/state.json");
  if (pages_only(op)) {
    std::string state = read_text(state_file);
    if (fault == NetFault::rate_limited) {
      EXPECT_NE(state.find(R"("protocol":"pages")"), std::string::npos) << state;
    } else {
      EXPECT_NE(state.find(R"("protocol":"sql")"), std::string::npos) << state;
      EXPECT_NE(state.find("pages not available"), std::string::npos) << state;
      EXPECT_NE(state.find("/pull-updates"), std::string::npos) << state;
    }
  }
  expect_integrity_ok_if_present(wc);
  expect_integrity_ok_if_present(replica);

  // The fault removed: the same command succeeds and does its job.
  proxy.set_mode(Fault::none);
  auto again = run(args_of(op));
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  // Back on the page path once it works again.
  if (pages_only(op)) {
    EXPECT_NE(read_text(state_file).find(R"("protocol":"pages")"), std::string::npos)
        << read_text(state_file);
  }
  if (init) {
    ASSERT_NO_FATAL_FAILURE(local_exec(wc, kCellLocalEdits));
  }
  // Whatever the command was, the teammate's rows are now in the working copy (push ends with a pull).
  EXPECT_EQ(local_rows(wc, "SELECT subject FROM emails WHERE id IN (1, 100) ORDER BY id"),
            (Rows{{T("theirs")}, {T("t1")}}));
  EXPECT_EQ(local_rows(wc, "SELECT count(*) FROM emails WHERE recipient LIKE 'mine-%'"), (Rows{{I(2)}}))
      << "a local edit was lost";
  auto synced = run({"sync"});
  ASSERT_EQ(synced.exit_code, 0) << synced.out << synced.err;

  Rows remote = remote_rows(server.url(), kCellEmailsSql);
  EXPECT_EQ(remote, kConverged) << "remote:\n" << render_rows(remote);
  EXPECT_EQ(local_rows(wc, kCellEmailsSql), kConverged) << render_rows(local_rows(wc, kCellEmailsSql));
  EXPECT_EQ(local_rows(replica, kCellEmailsSql), kConverged);
  // One push, recorded once: a batch that landed was recognised, not sent again.
  EXPECT_EQ(remote_rows(server.url(), "SELECT count(*) FROM turso_sync_pushes"), (Rows{{I(1)}}));
  auto diff = run({"diff", "--exit-code"});
  EXPECT_EQ(diff.exit_code, 0) << "local changes left:\n" << diff.out << diff.err;
  expect_integrity_ok_if_present(wc);
  expect_integrity_ok_if_present(replica);
}

// The default run: each fault once, each operation at least once, the faults where the server did the work
// (lost answer, 503 after it ran, wrong shape) on push, where doing it twice would show; and the page
// protocol failing alone, for a pull and an init.
TEST(FaultMatrix, EachFaultOnceAndEachOperationAtLeastOnce) {
  const std::vector<std::pair<Op, NetFault>> cells = {
      {Op::workflow, NetFault::refused},        {Op::init, NetFault::cut_request},
      {Op::push, NetFault::lost_answer},        {Op::pull_pages, NetFault::timeout},
      {Op::pull_sql, NetFault::truncated},      {Op::sync, NetFault::http_500},
      {Op::init, NetFault::http_502},           {Op::pull_sql, NetFault::http_503},
      {Op::push, NetFault::committed_then_503}, {Op::sync, NetFault::rate_limited},
      {Op::pull_pages, NetFault::garbage},      {Op::push, NetFault::wrong_shape},
      {Op::pull_pages_only, NetFault::timeout}, {Op::init_pages_only, NetFault::truncated},
  };
  for (auto [op, fault] : cells) ASSERT_NO_FATAL_FAILURE(run_cell(op, fault));
}

TEST(FaultMatrix, SlowEveryFaultForEveryOperation) {
  for (Op op : kOps)
    for (NetFault fault : kFaults)
      if (!(pages_only(op) && fault == NetFault::refused)) run_cell(op, fault);
}

}  // namespace
}  // namespace turso_sync::testing
