// The conflict policies' names (conflict.h): each name written and parsed in one place.
#include <fmt/format.h>

#include "turso_sync/conflict.h"

namespace turso_sync {

const char* to_string(ConflictPolicy policy) {
  switch (policy) {
    case ConflictPolicy::abort:
      return "abort";
    case ConflictPolicy::local:
      return "local";
    case ConflictPolicy::remote:
      return "remote";
    case ConflictPolicy::hold:
      return "hold";
  }
  return "abort";
}

Result<ConflictPolicy> parse_conflict_policy(std::string_view text) {
  for (ConflictPolicy p :
       {ConflictPolicy::abort, ConflictPolicy::local, ConflictPolicy::remote, ConflictPolicy::hold})
    if (text == to_string(p)) return p;
  return Error(ErrorKind::usage,
               fmt::format("unknown conflict policy '{}': use abort, local, remote or hold", text));
}

const char* to_string(InsertCollision collision) {
  return collision == InsertCollision::conflict ? "conflict" : "move";
}

Result<InsertCollision> parse_insert_collision(std::string_view text) {
  for (InsertCollision c : {InsertCollision::move_local, InsertCollision::conflict})
    if (text == to_string(c)) return c;
  return Error(ErrorKind::usage,
               fmt::format("unknown insert-collision policy '{}': use move or conflict", text));
}

}  // namespace turso_sync
