// Human and JSON renderings of a DiffSummary.
#include <fmt/format.h>

#include <algorithm>

#include "turso_sync/diff.h"
#include "util/text.h"

namespace turso_sync {

namespace {

std::string plural(int64_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::string table_note(const TableSummary& t) {
  std::string note;
  for (SchemaOp op : t.schema_ops) {
    const char* what = op == SchemaOp::create_table    ? "new table"
                       : op == SchemaOp::drop_table    ? "dropped"
                       : op == SchemaOp::add_column    ? "columns added"
                       : op == SchemaOp::rebuild_table ? "rebuilt"
                                                       : to_string(op);
    note += note.empty() ? what : std::string(", ") + what;
  }
  if (t.key_kind == KeyKind::none && t.counts.total() > 0) note += note.empty() ? "no key" : ", no key";
  return note;
}

void json_string(std::string& out, std::string_view s) {
  out += '"';
  bool utf8 = is_valid_utf8(s);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"')
      out += "\\\"";
    else if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7F || (!utf8 && c >= 0x80))
      out += fmt::format("\\u{:04x}", c);
    else
      out += ch;
  }
  out += '"';
}

}  // namespace

std::string render_summary(const DiffSummary& s) {
  if (!s.has_changes()) {
    std::string out = "No changes.\n";
    for (const std::string& w : s.warnings) out += "warning: " + printable(w) + "\n";
    return out;
  }
  std::string out;
  if (!s.schema.empty()) {
    out += "Schema changes:\n";
    for (const SchemaChange& c : s.schema)
      out += fmt::format("  {:<15} {:<7} {} ({})\n", to_string(c.op), c.object_type, printable(c.name),
                         to_string(c.reason));
  }
  size_t width = 5;
  for (const TableSummary& t : s.tables) width = std::max(width, printable(t.name).size());
  out += fmt::format("  {:<{}}  {:>8} {:>8} {:>8}\n", "table", width, "inserts", "updates", "deletes");
  for (const TableSummary& t : s.tables) {
    std::string note = table_note(t);
    out += fmt::format("  {:<{}}  {:>8} {:>8} {:>8}{}\n", printable(t.name), width, t.counts.inserts,
                       t.counts.updates, t.counts.deletes, note.empty() ? "" : "  (" + note + ")");
  }
  out += fmt::format("{}, {}, {}, {}.\n", plural(s.totals.inserts, "insert", "inserts"),
                     plural(s.totals.updates, "update", "updates"),
                     plural(s.totals.deletes, "delete", "deletes"),
                     plural(static_cast<int64_t>(s.schema.size()), "schema change", "schema changes"));
  for (const std::string& w : s.warnings) out += "warning: " + printable(w) + "\n";
  return out;
}

std::string render_stat(const DiffSummary& s) {
  std::string out;
  size_t width = 0;
  for (const TableSummary& t : s.tables) width = std::max(width, printable(t.name).size());
  for (const TableSummary& t : s.tables) {
    std::string note = table_note(t);
    out += fmt::format(" {:<{}} | {:>6} (+{} ~{} -{}){}\n", printable(t.name), width, t.counts.total(),
                       t.counts.inserts, t.counts.updates, t.counts.deletes, note.empty() ? "" : " " + note);
  }
  out += fmt::format(
      " {} changed, {}, {}, {}, {}\n", plural(static_cast<int64_t>(s.tables.size()), "table", "tables"),
      plural(s.totals.inserts, "insert", "inserts"), plural(s.totals.updates, "update", "updates"),
      plural(s.totals.deletes, "delete", "deletes"),
      plural(static_cast<int64_t>(s.schema.size()), "schema change", "schema changes"));
  return out;
}

std::string render_json(const DiffSummary& s) {
  std::string out = "{\"has_changes\":";
  out += s.has_changes() ? "true" : "false";
  out += fmt::format(",\"totals\":{{\"inserts\":{},\"updates\":{},\"deletes\":{},\"schema_changes\":{}}}",
                     s.totals.inserts, s.totals.updates, s.totals.deletes, s.schema.size());
  out += ",\"tables\":[";
  for (size_t i = 0; i < s.tables.size(); ++i) {
    const TableSummary& t = s.tables[i];
    if (i) out += ",";
    out += "{\"name\":";
    json_string(out, t.name);
    out += fmt::format(",\"key\":\"{}\",\"inserts\":{},\"updates\":{},\"deletes\":{},\"schema\":[",
                       to_string(t.key_kind), t.counts.inserts, t.counts.updates, t.counts.deletes);
    for (size_t k = 0; k < t.schema_ops.size(); ++k)
      out += fmt::format("{}\"{}\"", k ? "," : "", to_string(t.schema_ops[k]));
    out += "]}";
  }
  out += "],\"schema_changes\":[";
  for (size_t i = 0; i < s.schema.size(); ++i) {
    const SchemaChange& c = s.schema[i];
    if (i) out += ",";
    out += fmt::format("{{\"op\":\"{}\",\"reason\":\"{}\",\"type\":\"{}\",\"name\":", to_string(c.op),
                       to_string(c.reason), c.object_type);
    json_string(out, c.name);
    out += ",\"table\":";
    json_string(out, c.table);
    out += "}";
  }
  out += "],\"warnings\":[";
  for (size_t i = 0; i < s.warnings.size(); ++i) {
    if (i) out += ",";
    json_string(out, s.warnings[i]);
  }
  out += "]}\n";
  return out;
}

}  // namespace turso_sync
