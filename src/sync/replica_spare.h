// The spare replica: the replica as it was before the last page pull, kept so that the next incremental
// pull writes only pages instead of copying the whole replica (a pull's cost then follows the change, not
// the database; issue 9).
//
// When a pull swaps a new replica in, the old one is hard-linked to <state dir>/replica.spare before the
// rename, and <state dir>/replica.spare.json records which pages differ between the two. The next
// incremental pull renames the spare to its new image's temp path, copies those pages from the replica (the
// image now equals the replica), and applies the remote's changed pages on top.
//
// Format of replica.spare.json (written atomically after the swap, mode 0600):
//   {"replica":"<fingerprint of the replica it pairs with>","spare":"<fingerprint of the spare>",
//    "spare_pages":<pages in the spare>,"stale":[<0-based ids of pages where the spare differs>],
//    "boot_id":"<the boot it is valid in>" (only for a spare not fsynced)}
// Fingerprints are replica_fingerprint() (inode, size, mtime): a replica or spare written by anything else
// since no longer matches, and the spare is ignored (the image is then a full copy, as without a spare).
//
// A spare made as a copy (by init) is not fsynced: it is a cache, and writing it to disk would delay init
// by as much as the working copy does. Its bytes are in the page cache, which every reader of this boot
// sees, so the record names the boot (/proc/sys/kernel/random/boot_id): after a reboot the spare may have
// lost bytes the OS never wrote, and it is ignored. The pull that uses it fsyncs it as its new image. A
// spare kept by a pull is the old replica, fsynced when it was made: its record names no boot.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "turso_sync/status.h"

namespace turso_sync {

struct SpareImage {
  std::string path;
  uint64_t pages = 0;           // the spare's size in pages
  std::vector<uint32_t> stale;  // pages (0-based) where it differs from the replica, sorted
};

// The spare that pairs with `replica` as it is now, or nullopt (none, or it no longer matches).
std::optional<SpareImage> usable_spare(const std::string& state_dir, const std::string& replica);

// Makes the spare a copy of the replica (recorded with no stale page, for this boot), so that the first
// incremental pull after init writes only pages too. Best effort: on any failure there is no spare.
void create_spare_copy(const std::string& state_dir, const std::string& replica);

// A temp name in the state dir for a spare made before its replica is in place (a byte copy of a new
// image, see bootstrap_page_image); removed as stale if the process dies.
std::string new_spare_path(const std::string& state_dir);

// Makes `copy` (made at new_spare_path, a byte copy of `replica` as it is now in place, fsynced only when
// current_boot_id() is empty) the spare, recorded with no stale page, for this boot: create_spare_copy
// without copying. Best effort: on any
// failure there is no spare and `copy` is removed.
void adopt_spare_copy(const std::string& state_dir, const std::string& copy, const std::string& replica);

// This boot's id ("" when the system does not say; a spare is then fsynced and its record names no boot).
std::string current_boot_id();

// Forgets the spare: its record first, then the file (a crash in between leaves an unreferenced file that
// the next swap replaces).
void drop_spare(const std::string& state_dir);

// Makes `new_replica` (already fsynced) the replica: rename, fsync of the directory. With `changed` (the
// pages, 0-based, where `new_replica` differs from the replica; nullopt = not known), the old replica is kept
// as the spare.
Status swap_in_replica(const std::string& state_dir, const std::string& new_replica,
                       const std::string& replica, const std::optional<std::vector<uint32_t>>& changed);

}  // namespace turso_sync
