// Damaged local files: finding which one is damaged, and keeping a damaged working copy aside.
#pragma once

#include <string>

#include "turso_sync/status.h"

namespace turso_sync {

// What PRAGMA quick_check says is wrong with `path` (its first line), or "" when the file passes, is missing,
// or cannot be checked now for another reason than damage (locked by another process).
std::string damage_of(const std::string& path);

// Renames the damaged database `path` (with its -journal and -wal, which must not meet a new file of that
// name) to <path>.damaged-<time>; returns the new name. Nothing is deleted but the derived -shm.
Result<std::string> move_damaged_aside(const std::string& path);

}  // namespace turso_sync
