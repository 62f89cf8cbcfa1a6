#include <cstdlib>

#include "turso_sync/changeset.h"

#include "util/text.h"

namespace turso_sync {

std::optional<size_t> TableDesc::column_index(std::string_view column) const {
  for (size_t c = 0; c < columns.size(); ++c)
    if (same_identifier(columns[c].name, column)) return c;
  return std::nullopt;
}

std::optional<std::vector<size_t>> TableDesc::column_indexes(const std::vector<std::string>& names) const {
  std::vector<size_t> out;
  for (const std::string& column : names) {
    auto c = column_index(column);
    if (!c) return std::nullopt;
    out.push_back(*c);
  }
  return out;
}

const char* to_string(KeyKind kind) {
  switch (kind) {
    case KeyKind::rowid:
      return "rowid";
    case KeyKind::primary_key:
      return "primary_key";
    case KeyKind::none:
      return "none";
  }
  return "unknown";
}

const char* to_string(RowOp op) {
  switch (op) {
    case RowOp::insert:
      return "insert";
    case RowOp::update:
      return "update";
    case RowOp::remove:
      return "delete";
  }
  return "unknown";
}

const char* to_string(SchemaOp op) {
  switch (op) {
    case SchemaOp::create_table:
      return "create_table";
    case SchemaOp::drop_table:
      return "drop_table";
    case SchemaOp::add_column:
      return "add_column";
    case SchemaOp::rebuild_table:
      return "rebuild_table";
    case SchemaOp::create_index:
      return "create_index";
    case SchemaOp::drop_index:
      return "drop_index";
    case SchemaOp::create_view:
      return "create_view";
    case SchemaOp::drop_view:
      return "drop_view";
    case SchemaOp::create_trigger:
      return "create_trigger";
    case SchemaOp::drop_trigger:
      return "drop_trigger";
    case SchemaOp::user_version:
      return "user_version";
  }
  return "unknown";
}

const char* to_string(SchemaReason reason) {
  switch (reason) {
    case SchemaReason::added:
      return "added";
    case SchemaReason::removed:
      return "removed";
    case SchemaReason::changed:
      return "changed";
    case SchemaReason::dependent:
      return "dependent";
  }
  return "unknown";
}

Status Changeset::replay(ChangeSink& sink) const {
  TS_TRY_STATUS(sink.schema(schema, triggers));
  for (const TableChanges& t : tables) {
    TS_TRY_STATUS(sink.table_begin(t.table));
    RowCursor rows = t.rows.cursor();
    while (const RowChange* r = TS_TRY(rows.next())) TS_TRY_STATUS(sink.row(t.table, *r));
    TS_TRY_STATUS(sink.table_end(t.table, t.counts));
  }
  return sink.finish(warnings);
}

namespace {

size_t default_memory_budget() {
  const char* v = std::getenv("TURSO_SYNC_CHANGESET_MEMORY");
  if (v && *v) {
    char* end = nullptr;
    unsigned long long n = std::strtoull(v, &end, 10);
    if (end && !*end) return static_cast<size_t>(n);
  }
  return size_t{16} << 20;
}

}  // namespace

ChangesetCollector::ChangesetCollector(std::string spill_dir)
    : ChangesetCollector(std::move(spill_dir), default_memory_budget()) {}

ChangesetCollector::ChangesetCollector(std::string spill_dir, size_t memory_budget)
    : m_spill_dir(std::move(spill_dir)), m_budget(memory_budget) {}

Status ChangesetCollector::schema(const std::vector<SchemaChange>& changes,
                                  const std::vector<TriggerDef>& triggers) {
  m_changeset.schema = changes;
  m_changeset.triggers = triggers;
  return {};
}

Status ChangesetCollector::table_begin(const TableDesc& table) {
  m_current = TableChanges{table, {}, {}};
  return {};
}

Status ChangesetCollector::row(const TableDesc&, const RowChange& change) {
  if (!m_current) return Error(ErrorKind::internal, "changeset collector: row outside a table");
  RowList& rows = m_current->rows;
  // Spilled before the row is added when it would pass the budget: a row of a large value is never copied.
  if (!rows.spilled() && m_memory + rows.memory_bytes() + RowList::memory_of(change) > m_budget)
    TS_TRY_STATUS(rows.spill(m_spill_dir));
  return rows.append(change);
}

Status ChangesetCollector::table_end(const TableDesc&, const TableCounts& counts) {
  if (!m_current) return Error(ErrorKind::internal, "changeset collector: table_end without table_begin");
  m_current->counts = counts;
  m_memory += m_current->rows.memory_bytes();
  if (!m_current->rows.empty()) m_changeset.tables.push_back(std::move(*m_current));
  m_current.reset();
  return {};
}

Status ChangesetCollector::finish(const std::vector<std::string>& warnings) {
  m_changeset.warnings = warnings;
  return {};
}

}  // namespace turso_sync
