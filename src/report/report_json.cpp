// Renderers of the report documents (include/turso_sync/report_json.h; fields in docs/capi.md).
#include "turso_sync/report_json.h"

#include "util/json_writer.h"
#include "util/text.h"

namespace turso_sync {

namespace {

void write_values(JsonWriter& w, const std::vector<Value>& values) {
  w.begin_array();
  for (const auto& v : values) {
    if (v.is_null())
      w.null();
    else
      w.string(describe(v, 1000));
  }
  w.end_array();
}

void write_file_json(JsonWriter& w, const char* key, const FileInfo& f) {
  w.key(key).begin_object().key("path").string(f.path).key("exists").boolean(f.exists);
  w.key("size")
      .integer(static_cast<int64_t>(f.size))
      .key("wal_size")
      .integer(static_cast<int64_t>(f.wal_size));
  w.end_object();
}

std::string summary_json(const DiffSummary& summary) {
  return trim(render_json(summary));
}

}  // namespace

std::string pull_json_object(const PullReport& r) {
  JsonWriter w;
  w.begin_object();
  w.key("up_to_date").boolean(r.up_to_date).key("applied").boolean(r.applied);
  w.key("protocol").string(r.protocol).key("protocol_reason").string(r.protocol_reason);
  w.key("bytes_received").integer(static_cast<int64_t>(r.bytes_received)).key("requests").integer(r.requests);
  w.key("pages_received").integer(static_cast<int64_t>(r.pages_received));
  w.key("taken")
      .begin_object()
      .key("inserts")
      .integer(r.taken.inserts)
      .key("updates")
      .integer(r.taken.updates);
  w.key("deletes").integer(r.taken.deletes).end_object();
  w.key("merged_rows").integer(r.merged_rows);
  w.key("conflicts").begin_array();
  for (const auto& c : r.conflicts) {
    w.begin_object().key("table").string(c.table).key("kind").string(c.kind).key("key");
    write_values(w, c.key);
    w.key("columns").begin_array();
    for (const auto& col : c.columns) w.string(col);
    w.end_array().key("base");
    write_values(w, c.base);
    w.key("ours");
    write_values(w, c.ours);
    w.key("theirs");
    write_values(w, c.theirs);
    w.key("conflicting_columns").begin_array();
    for (int i : c.conflicting_columns) w.integer(i);
    w.end_array().key("about").string(printable(c.about)).end_object();
  }
  w.end_array().key("moved").begin_array();
  for (const auto& m : r.moved) {
    w.begin_object().key("table").string(m.table).key("from").integer(m.from).key("to").integer(m.to);
    w.key("updated_references").begin_array();
    for (const auto& ref : m.updated_references) w.string(ref);
    w.end_array().end_object();
  }
  w.end_array();
  w.key("discarded_path").string(r.discarded_path);
  w.key("held").integer(r.held);
  w.key("notes").begin_array();
  for (const auto& n : r.notes) w.string(n);
  w.end_array().end_object();
  return w.take();
}

std::string push_json_object(const PushReport& r) {
  JsonWriter w;
  w.begin_object();
  w.key("nothing_to_push").boolean(r.nothing_to_push).key("already_applied").boolean(r.already_applied);
  w.key("batches").integer(r.batches).key("staged_parts").integer(r.staged_parts);
  w.key("inserts").integer(r.changes.totals.inserts).key("updates").integer(r.changes.totals.updates);
  w.key("deletes")
      .integer(r.changes.totals.deletes)
      .key("schema_changes")
      .integer(static_cast<int64_t>(r.changes.schema.size()));
  if (!r.dry_run_sql.empty()) w.key("sql").string(r.dry_run_sql);
  w.key("conflicts").begin_array();
  for (const auto& c : r.conflicts) {
    w.begin_object().key("table").string(c.table).key("operation").string(c.operation).key("key");
    write_values(w, c.key);
    w.key("detail").string(c.detail).key("local").boolean(c.local).end_object();
  }
  w.end_array();
  w.key("held")
      .integer(r.held)
      .key("held_skipped")
      .integer(r.held_skipped)
      .key("held_new")
      .integer(r.held_new);
  w.key("refused_rows").begin_array();
  for (const std::string& row : r.refused_rows) w.string(row);
  w.end_array();
  if (r.pull) w.key("pull").raw(pull_json_object(*r.pull));
  w.end_object();
  return w.take();
}

std::string init_report_json(const Config& config, const InitReport& report) {
  JsonWriter w;
  w.begin_object()
      .key("command")
      .string("init")
      .key("replica")
      .string(config.replica_path)
      .key("working_copy")
      .string(config.working_path)
      .key("working_copy_replaced")
      .boolean(report.working_copy_replaced)
      .key("discarded_path")
      .string(report.discarded_path)
      .key("tables")
      .integer(report.tables)
      .key("rows")
      .integer(report.rows)
      .key("other_objects")
      .integer(report.other_objects)
      .key("bytes_received")
      .integer(static_cast<int64_t>(report.bytes_received))
      .key("requests")
      .integer(report.requests)
      .key("protocol")
      .string(report.protocol)
      .key("protocol_reason")
      .string(report.protocol_reason)
      .key("elapsed_ms")
      .integer(report.elapsed.count())
      .key("warnings")
      .begin_array();
  for (const auto& warning : report.warnings) w.string(warning);
  w.end_array();
  if (report.published) {
    const PublishReport& p = *report.published;
    w.key("published")
        .begin_object()
        .key("tables")
        .integer(p.tables)
        .key("rows")
        .integer(p.rows)
        .key("other_objects")
        .integer(p.other_objects)
        .key("parts")
        .integer(p.parts)
        .key("parts_sent")
        .integer(p.parts_sent)
        .key("already_published")
        .boolean(p.already_published)
        .end_object();
  }
  w.end_object();
  return w.take();
}

std::string pull_report_json(const PullReport& report) {
  JsonWriter w;
  w.begin_object().key("command").string("pull").key("pull").raw(pull_json_object(report)).end_object();
  return w.take();
}

std::string push_report_json(const PushReport& report) {
  JsonWriter w;
  w.begin_object().key("command").string("push").key("push").raw(push_json_object(report)).end_object();
  return w.take();
}

std::string sync_report_json(const PullReport& pull, const std::optional<PushReport>& push) {
  JsonWriter w;
  w.begin_object().key("command").string("sync").key("pull").raw(pull_json_object(pull));
  if (push) w.key("push").raw(push_json_object(*push));
  w.end_object();
  return w.take();
}

std::string diff_report_json(const std::string& diff_file, const DiffSummary& summary) {
  JsonWriter w;
  w.begin_object().key("command").string("diff").key("diff_file").string(diff_file);
  w.key("summary").raw(summary_json(summary)).end_object();
  return w.take();
}

std::string reset_report_json(const std::string& command, const ResetReport& report) {
  JsonWriter w;
  w.begin_object().key("command").string(command);
  w.key("discarded").raw(summary_json(report.discarded));
  w.key("discarded_path").string(report.discarded_path).end_object();
  return w.take();
}

std::string status_report_json(const StatusReport& r) {
  JsonWriter w;
  w.begin_object().key("config").begin_object();
  w.key("database_url").string(r.database_url).key("http_url").string(r.remote_http_url);
  w.key("auth_token").string(r.token_masked).key("sources").begin_object();
  for (const auto& [k, v] : r.sources) w.key(k).string(v);
  w.end_object().key("files_read").begin_array();
  for (const auto& f : r.config_files) w.string(f);
  w.end_array().end_object();
  w.key("files").begin_object();
  write_file_json(w, "replica", r.replica);
  write_file_json(w, "working_copy", r.working_copy);
  w.key("state_dir").string(r.state_dir).end_object();
  w.key("initialized").boolean(r.initialized);
  w.key("sync").begin_object().key("protocol").string(r.protocol).key("last_pull_at").string(r.last_pull_at);
  w.key("workflow_pid").integer(r.workflow_pid);
  w.key("last_push_at").string(r.last_push_at).key("remote_revision").string(r.remote_revision);
  w.key("pull_path").string(r.protocol).key("pull_path_reason").string(r.pull_path_reason).end_object();
  w.key("remote")
      .begin_object()
      .key("checked")
      .boolean(r.remote_checked)
      .key("reachable")
      .boolean(r.remote_reachable);
  if (r.remote_reachable) w.key("round_trip_ms").real(r.round_trip_ms);
  if (!r.remote_follow.empty()) w.key("remote_follow").string(r.remote_follow);
  if (!r.remote_error.empty()) w.key("error").string(r.remote_error);
  if (!r.remote_error_detail.empty()) w.key("error_detail").string(r.remote_error_detail);
  w.end_object();
  if (r.pending) w.key("pending").raw(summary_json(*r.pending));
  if (!r.pending_error.empty()) w.key("pending_error").string(r.pending_error);
  if (r.pending) {
    w.key("local_objects").begin_array();
    for (const LocalObject& o : r.pending->local_objects)
      w.begin_object()
          .key("type")
          .string(o.type)
          .key("name")
          .string(o.name)
          .key("why")
          .string(o.why)
          .end_object();
    w.end_array();
  }
  const HealthReport& h = r.health;
  w.key("health").begin_object().key("held_conflicts").integer(h.held_conflicts);
  w.key("last_success_at").string(h.last_success_at).key("last_sync_failed").boolean(h.last_sync_failed);
  w.key("last_sync_conflict").boolean(h.last_sync_conflict);
  w.key("last_error").string(h.last_error).key("last_error_at").string(h.last_error_at);
  w.key("workflow")
      .begin_object()
      .key("last_cycle_at")
      .string(h.last_cycle_at)
      .key("last_cycle_result")
      .string(h.last_cycle_result)
      .key("next_cycle_at")
      .string(h.next_cycle_at)
      .key("consecutive_failures")
      .integer(h.consecutive_failures)
      .end_object();
  w.key("recent").begin_array();
  for (const HistoryEntry& e : h.recent) w.raw(history_line_json(e));
  w.end_array();
  if (!r.health_error.empty()) w.key("error").string(r.health_error);
  w.end_object();
  if (r.check) {
    w.key("check").begin_object().key("exit_code").integer(r.check->exit_code);
    w.key("healthy").boolean(r.check->exit_code == 0).key("reason").string(r.check->reason).end_object();
  }
  w.key("warnings").begin_array();
  for (const auto& x : r.warnings) w.string(x);
  w.end_array().end_object();
  return w.take();
}

std::string cycle_report_json(const CycleReport& r) {
  JsonWriter w;
  w.begin_object()
      .key("cycle")
      .integer(r.number)
      .key("trigger")
      .string(to_string(r.trigger))
      .key("started_at")
      .string(r.started_at)
      .key("elapsed_ms")
      .integer(r.elapsed.count())
      .key("exit_code")
      .integer(r.exit_code);
  if (r.pull) {
    w.key("pulled").begin_object();
    w.key("inserts").integer(r.pull->taken.inserts).key("updates").integer(r.pull->taken.updates);
    w.key("deletes")
        .integer(r.pull->taken.deletes)
        .key("conflicts")
        .integer(static_cast<int64_t>(r.pull->conflicts.size()));
    w.key("applied").boolean(r.pull->applied).end_object();
  }
  if (r.push) {
    const TableCounts& t = r.push->changes.totals;
    w.key("pushed").begin_object();
    w.key("inserts").integer(r.push->nothing_to_push ? 0 : t.inserts);
    w.key("updates").integer(r.push->nothing_to_push ? 0 : t.updates);
    w.key("deletes").integer(r.push->nothing_to_push ? 0 : t.deletes);
    w.key("conflicts").integer(static_cast<int64_t>(r.push->conflicts.size()));
    w.key("held_skipped").integer(r.push->held_skipped).end_object();
  }
  w.key("held").integer(r.held);
  w.key("bytes_sent").integer(static_cast<int64_t>(r.traffic.bytes_sent));
  w.key("bytes_received").integer(static_cast<int64_t>(r.traffic.bytes_received));
  w.key("requests").integer(r.traffic.requests);
  if (r.error)
    w.key("error")
        .begin_object()
        .key("kind")
        .string(to_string(r.error->kind()))
        .key("message")
        .string(r.error->message())
        .end_object();
  w.key("consecutive_failures").integer(r.consecutive_failures).key("next_in_ms").integer(r.next_in.count());
  w.end_object();
  return w.take();
}

std::string conflicts_report_json(const std::vector<HeldConflict>& held) {
  JsonWriter w;
  w.begin_object().key("command").string("conflicts").key("conflicts").begin_array();
  for (const HeldConflict& c : held) {
    w.begin_object().key("table").string(printable(c.table)).key("key");
    write_values(w, c.key);
    std::string key_text;
    for (size_t i = 0; i < c.key.size(); ++i) {
      if (i) key_text += ",";
      key_text += c.key[i].type() == ValueType::integer ? std::to_string(c.key[i].as_integer())
                  : c.key[i].type() == ValueType::text  ? printable(c.key[i].as_bytes())
                                                        : describe(c.key[i], 1000);
    }
    w.key("key_text").string(key_text);
    w.key("key_names").begin_array();
    for (const auto& k : c.key_names) w.string(printable(k));
    w.end_array();
    w.key("kind").string(c.kind).key("columns").begin_array();
    for (const auto& col : c.columns) w.string(printable(col));
    w.end_array().key("base");
    write_values(w, c.base);
    w.key("ours");
    write_values(w, c.ours);
    w.key("theirs");
    write_values(w, c.theirs);
    w.key("conflicting_columns").begin_array();
    for (int i : c.conflicting_columns) w.integer(i);
    w.end_array();
    w.key("about").string(printable(c.about));
    w.key("about").string(printable(c.about));
    w.key("since").string(c.since).key("theirs_changed_at").string(c.theirs_changed_at);
    w.key("ours_changed_at").string(c.ours_changed_at).end_object();
  }
  w.end_array().end_object();
  return w.take();
}

std::string resolve_report_json(const ResolveReport& r) {
  JsonWriter w;
  w.begin_object().key("command").string("resolve").key("resolved").begin_array();
  for (const ResolvedConflict& c : r.resolved) {
    w.begin_object().key("table").string(printable(c.table)).key("key");
    write_values(w, c.key);
    w.key("outcome").string(c.outcome).key("theirs_changed").boolean(c.theirs_changed).end_object();
  }
  w.end_array().key("discarded_path").string(r.discarded_path).key("still_held").integer(r.still_held);
  w.key("dependents").integer(r.dependents);
  w.end_object();
  return w.take();
}

std::string history_entry_json(const HistoryEntry& entry) {
  return history_line_json(entry);
}

std::string log_report_json(const std::vector<HistoryEntry>& entries) {
  JsonWriter w;
  w.begin_object().key("command").string("log").key("entries").begin_array();
  for (const HistoryEntry& e : entries) w.raw(history_line_json(e));
  w.end_array().end_object();
  return w.take();
}

std::string error_json(const Error& error) {
  JsonWriter w;
  w.begin_object().key("error").begin_object();
  w.key("kind")
      .string(to_string(error.kind()))
      .key("message")
      .string(error.message())
      .key("exit_code")
      .integer(exit_code_for(error.kind()));
  if (!error.detail().empty()) w.key("detail").string(error.detail());
  w.end_object().end_object();
  return w.take();
}

}  // namespace turso_sync
