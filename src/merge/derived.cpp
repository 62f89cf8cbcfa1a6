// Derived objects: views and triggers hold no rows, so the merge sets all of the working copy's aside for its
// whole length (a table rebuild re-checks every view and trigger, and the merge's writes must not fire
// triggers) and creates them again at the end, each in its merged version (yours, unless the remote changed
// it and you did not). A view that no longer compiles against the merged tables is a schema conflict.
#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "db/schema.h"
#include "diff/schema_plan.h"
#include "diff/sql_text.h"
#include "merge/merger.h"
#include "util/text.h"

namespace turso_sync::merge {

// The merged version of a view or trigger: theirs' SQL, or nullopt when the merge drops it.
void Merger::set_derived(const std::string& type, const std::string& name, std::optional<std::string> sql) {
  std::string key = object_key(type, name);
  if (!m_derived_final.count(key)) m_derived_order.push_back({type, name});
  m_derived_final[key] = std::move(sql);
}

// Drops every view and trigger of the working copy, returning them in schema order.
Result<std::vector<DerivedObject>> Merger::suspend_derived() {
  std::vector<DerivedObject> out;
  {
    auto stmt = TS_TRY(m_db.prepare(
        "SELECT type, name, sql, tbl_name FROM sqlite_schema WHERE type IN ('view', 'trigger') AND sql IS "
        "NOT NULL ORDER BY type = 'view', rowid"));  // triggers first: one may be INSTEAD OF a view
    while (TS_TRY(stmt.step()))
      out.push_back(
          {stmt.column_text(0), stmt.column_text(1), stmt.column_text(2), false, stmt.column_text(3)});
  }
  m_set_aside = out;
  for (const DerivedObject& o : out) {
    m_derived_ours[object_key(o.type, o.name)] = o.sql;
    // A view that the application's own changes already broke is not the merge's to judge.
    if (o.type == "view" && !m_db.prepare(view_check_sql(o.name)).ok())
      m_broken_views.insert(object_key(o.type, o.name));
    auto st = m_db.exec(
        fmt::format("DROP {} main.{}", o.type == "view" ? "VIEW" : "TRIGGER", quote_identifier(o.name)));
    if (!st.ok()) return st.error().context(fmt::format("set aside {} {}", o.type, printable(o.name)));
  }
  std::reverse(out.begin(), out.end());  // views first when creating
  return out;
}

// Creates the merged views and triggers: the working copy's, except those a decision of this merge replaced
// or dropped, then the remote's new ones; views first. A view of ours that no longer fits the merged tables
// (it names a column the remote renamed or dropped) is a conflict, settled by on_conflict == remote
// (theirs' version, if any, taken; ours saved).
Status Merger::restore_derived(const std::vector<DerivedObject>& saved) {
  std::vector<DerivedObject> final;
  std::set<std::string> seen;
  for (const DerivedObject& o : saved) {
    std::string key = object_key(o.type, o.name);
    seen.insert(key);
    auto it = m_derived_final.find(key);
    if (it == m_derived_final.end())
      final.push_back(o);
    else if (it->second)
      final.push_back({o.type, o.name, *it->second, true});
  }
  for (const auto& [type, name] : m_derived_order) {
    std::string key = object_key(type, name);
    const auto& sql = m_derived_final[key];
    if (!seen.count(key) && sql) final.push_back({type, name, *sql, true});
  }
  std::stable_partition(final.begin(), final.end(), [](const DerivedObject& o) { return o.type == "view"; });
  for (const DerivedObject& o : final) {
    Status st = create_derived(o);
    bool take_theirs = decide(ConflictKind::schema) == ConflictDecision::take_theirs;
    if (!st.ok() && o.theirs && take_theirs && TS_TRY(undo_local_renames_for(o.sql))) st = create_derived(o);
    if (st.ok()) continue;
    if (o.theirs || st.error().kind() != ErrorKind::sql)
      return Error(ErrorKind::conflict,
                   fmt::format("merge into working copy {}: the remote's {} {} cannot be created in the "
                               "working copy ({}); nothing was changed. Undo the local schema change it "
                               "depends on and pull again",
                               m_db.path(), o.type, printable(o.name), st.error().message()));
    if (!take_theirs)
      return Error(ErrorKind::conflict,
                   fmt::format("merge into working copy {}: schema conflict; nothing was changed:\n  {} {}: "
                               "the working copy's version no longer fits the remote's tables ({})\nChange "
                               "or drop it (or pull with --on-conflict=remote to take the remote's; yours "
                               "is saved), then pull again",
                               m_db.path(), o.type, printable(o.name), st.error().message()));
    m_discarded += fmt::format("-- your {} {} (it no longer fits the remote's tables)\n{};\n", o.type,
                               printable(o.name), o.sql);
    db::Database* theirs = TS_TRY(theirs_db());
    auto theirs_sql = TS_TRY(object_sql(*theirs, o.type, o.name));
    if (!theirs_sql) continue;
    Status again = create_derived({o.type, o.name, *theirs_sql, true});
    if (!again.ok())
      return again.error().context(fmt::format("merge into working copy {}: create the remote's {} {}",
                                               m_db.path(), o.type, printable(o.name)));
  }
  return {};
}

// Creates a view or trigger; a view is also compiled, so that one naming a missing column fails here.
std::string Merger::view_check_sql(const std::string& view) {
  return fmt::format("SELECT * FROM main.{} LIMIT 0", quote_identifier(view));
}

// Not judged: a view the working copy had already broken, or one of theirs that the remote holds broken.
Status Merger::create_derived(const DerivedObject& o) {
  TS_TRY_STATUS(m_db.exec(o.sql));
  if (o.type != "view" || m_broken_views.count(object_key(o.type, o.name))) return {};
  if (o.theirs && !m_options.theirs_path.empty() &&
      !TS_TRY(theirs_db())->prepare(view_check_sql(o.name)).ok())
    return {};
  auto check = m_db.prepare(view_check_sql(o.name));
  if (check.ok()) return {};
  Error e = std::move(check).error();
  TS_TRY_STATUS(m_db.exec("DROP VIEW main." + quote_identifier(o.name)));
  return e;
}

}  // namespace turso_sync::merge
