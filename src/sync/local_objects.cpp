#include "sync/local_objects.h"

#include <set>

#include "diff/local_objects.h"
#include "turso_sync/sync.h"
#include "util/text.h"

namespace turso_sync {

DiffOptions local_diff_options(const Config& c) {
  DiffOptions options;
  options.local_tables = c.local_tables;
  options.spill_dir = c.state_dir;  // large values beside the replica, as the row changes that spill
  return options;
}

Result<DiffOptions> delta_diff_options(const Config& c) {
  DiffOptions options = local_diff_options(c);
  for (const LocalObject& o : TS_TRY(diff::find_local_objects_in(c.working_path, c.local_tables)))
    options.local_names.push_back(o.name);
  return options;
}

Result<std::vector<std::string>> follow_local_indexes(db::Database& working, const Changeset& delta) {
  std::set<std::string> tables;
  for (const TableChanges& t : delta.tables) tables.insert(lower_ascii(t.table.name));
  for (const SchemaChange& s : delta.schema)
    if (!s.table.empty()) tables.insert(lower_ascii(s.table));
  if (tables.empty()) return std::vector<std::string>();
  return diff::rebuild_content_indexes(working, tables);
}

}  // namespace turso_sync
