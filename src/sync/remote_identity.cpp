#include "sync/remote_identity.h"

#include <fmt/format.h>

#include "sync/push_batch.h"
#include "sync/state.h"

namespace turso_sync {

Result<RemoteReceipts> read_remote_receipts(RemoteClient& remote, const std::string& known) {
  auto r = remote.execute(
      SqlStatement{fmt::format("SELECT EXISTS (SELECT 1 FROM {0} WHERE id = ?), (SELECT id FROM {0} ORDER BY "
                               "rowid DESC LIMIT 1)",
                               kPushReceiptTable),
                   {Value::text(known)}},
      Retry::safe);
  RemoteReceipts receipts;
  if (!r.ok()) {
    // A remote nobody pushed to has no receipt table.
    if (r.error().kind() == ErrorKind::sql &&
        r.error().message().find("no such table") != std::string::npos) {
      receipts.holds_known = known.empty();
      return receipts;
    }
    return r.error().context("read the remote's push receipts");
  }
  if (r->rows.size() != 1 || r->rows[0].size() != 2)
    return Error(ErrorKind::protocol, "unexpected answer from the server: push receipts");
  const auto& row = r->rows[0];
  receipts.holds_known = known.empty() || row[0] == Value::integer(1);
  if (row[1].type() == ValueType::text) receipts.newest = row[1].as_bytes();
  return receipts;
}

std::string init_force_way_on(const Config& c) {
  return fmt::format(
      "run `turso-sync init --force`: it downloads this database and first saves the working copy's local "
      "changes to {}/discarded-<time>.sql",
      c.state_dir);
}

Error another_remote_error(const Config& c, const std::string& known) {
  return Error(ErrorKind::refused,
               fmt::format("{} is not the database the replica {} was pulled from: it does not hold push {}, "
                           "which that database held (another database, or this one restored to an earlier "
                           "point). Nothing was changed. If the URL was changed on purpose, {}",
                           c.database_url, c.replica_path, known, init_force_way_on(c)));
}

Result<std::string> check_same_remote(RemoteClient& remote, const Config& c) {
  auto state = TS_TRY(load_state(c.state_dir));
  std::string known = state ? state->remote_receipt : std::string();
  RemoteReceipts receipts = TS_TRY(read_remote_receipts(remote, known));
  if (!receipts.holds_known) return another_remote_error(c, known);
  return receipts.newest;
}

}  // namespace turso_sync
