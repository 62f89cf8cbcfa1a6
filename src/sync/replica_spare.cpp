#include "sync/replica_spare.h"

#include <fcntl.h>
#include <unistd.h>

#include <simdjson.h>

#include <algorithm>
#include <cerrno>

#include "db/file_reader.h"
#include "sync/page_pull.h"
#include "util/fs.h"
#include "util/json_writer.h"
#include "util/text.h"

namespace turso_sync {

namespace {

constexpr uint64_t k_page_size = 4096;

std::string spare_path(const std::string& state_dir) {
  return state_dir + "/replica.spare";
}

std::string record_path(const std::string& state_dir) {
  return state_dir + "/replica.spare.json";
}

}  // namespace

std::optional<SpareImage> usable_spare(const std::string& state_dir, const std::string& replica) {
  auto text = read_file(record_path(state_dir));
  if (!text.ok()) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(*text).get(root) != simdjson::SUCCESS) return std::nullopt;
  std::string_view pairs_with, spare_fingerprint;
  uint64_t pages = 0;
  simdjson::dom::array stale;
  if (root["replica"].get(pairs_with) != simdjson::SUCCESS ||
      root["spare"].get(spare_fingerprint) != simdjson::SUCCESS ||
      root["spare_pages"].get(pages) != simdjson::SUCCESS || root["stale"].get(stale) != simdjson::SUCCESS)
    return std::nullopt;
  // A spare that is not on disk is valid only in the boot that wrote it.
  std::string_view boot;
  if (root["boot_id"].get(boot) == simdjson::SUCCESS && (boot.empty() || boot != current_boot_id()))
    return std::nullopt;
  SpareImage spare;
  spare.path = spare_path(state_dir);
  if (pairs_with.empty() || pairs_with != replica_fingerprint(replica) ||
      spare_fingerprint != replica_fingerprint(spare.path) || file_size(spare.path) != pages * k_page_size)
    return std::nullopt;
  spare.pages = pages;
  for (auto id : stale) {
    uint64_t v = 0;
    if (id.get(v) != simdjson::SUCCESS || v > UINT32_MAX) return std::nullopt;
    spare.stale.push_back(static_cast<uint32_t>(v));
  }
  std::sort(spare.stale.begin(), spare.stale.end());
  return spare;
}

namespace {

Status write_record(const std::string& state_dir, const std::string& replica, uint64_t spare_pages,
                    const std::vector<uint32_t>& stale, const std::string& boot_id = "") {
  JsonWriter w;
  w.begin_object()
      .key("replica")
      .string(replica_fingerprint(replica))
      .key("spare")
      .string(replica_fingerprint(spare_path(state_dir)))
      .key("spare_pages")
      .integer(static_cast<int64_t>(spare_pages))
      .key("stale")
      .begin_array();
  for (uint32_t id : stale) w.integer(id);
  w.end_array();
  if (!boot_id.empty()) w.key("boot_id").string(boot_id);
  w.end_object();
  // A hint, not a record of state: usable_spare checks both files' fingerprints before trusting it, and a
  // lost or torn one only costs the next pull a copy of the replica. No fsync.
  return atomic_write_file(record_path(state_dir), w.str() + "\n", 0600, Durability::hint);
}

// Records the spare (a copy of the replica, not fsynced; `fd` is a descriptor of it) as equal to the
// replica: for this boot, or, when the boot is unknown, once the copy is fsynced.
bool record_copy(const std::string& state_dir, const std::string& replica, uint64_t pages, int fd) {
  std::string boot = current_boot_id();
  if (boot.empty() && ::fsync(fd) != 0) return false;
  return write_record(state_dir, replica, pages, {}, boot).ok();
}

}  // namespace

std::string current_boot_id() {
  auto text = read_file("/proc/sys/kernel/random/boot_id");
  return text.ok() ? std::string(trim(*text)) : std::string();
}

void create_spare_copy(const std::string& state_dir, const std::string& replica) {
  drop_spare(state_dir);
  auto size = file_size(replica);
  if (!size || *size == 0 || *size % k_page_size != 0) return;
  std::string path = spare_path(state_dir);
  // Read through SQLite's file handle (db/file_reader.h), never a descriptor of ours.
  auto from = db::FileSnapshot::open(replica);
  if (!from.ok() || (*from)->size() != *size) return;
  UniqueFd to(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, kPrivateFileMode));
  if (!to || !(*from)->copy_to(to.get(), path).ok() ||
      !record_copy(state_dir, replica, *size / k_page_size, to.get()))
    drop_spare(state_dir);
}

std::string new_spare_path(const std::string& state_dir) {
  return spare_path(state_dir) + ".tmp-" + std::to_string(::getpid());
}

void adopt_spare_copy(const std::string& state_dir, const std::string& copy, const std::string& replica) {
  drop_spare(state_dir);
  auto size = file_size(replica);
  // Written by bootstrap_page_image, fsynced there only when the boot is unknown: the record says which.
  bool ok = size && *size > 0 && *size % k_page_size == 0 && file_size(copy) == size &&
            ::rename(copy.c_str(), spare_path(state_dir).c_str()) == 0 &&
            write_record(state_dir, replica, *size / k_page_size, {}, current_boot_id()).ok();
  if (!ok) {
    ::unlink(copy.c_str());
    drop_spare(state_dir);
  }
}

void drop_spare(const std::string& state_dir) {
  ::unlink(record_path(state_dir).c_str());
  ::unlink(spare_path(state_dir).c_str());
}

Status swap_in_replica(const std::string& state_dir, const std::string& new_replica,
                       const std::string& replica, const std::optional<std::vector<uint32_t>>& changed) {
  drop_spare(state_dir);
  // A spare is worth keeping while writing its stale pages is cheaper than copying the whole file.
  auto old_size = file_size(replica);
  bool keep = changed && old_size && *old_size % k_page_size == 0 && *old_size > 0 &&
              changed->size() * 2 < *old_size / k_page_size &&
              ::link(replica.c_str(), spare_path(state_dir).c_str()) == 0;
  // The new image was fsynced when it was finished (page_pull.h, snapshot.h), before any marker named it.
  TS_TRY_STATUS(durable_rename(new_replica, replica, FsyncSource::no));
  if (!keep) {
    ::unlink(spare_path(state_dir).c_str());
    return {};
  }
  // Without its record the spare is never used: failing to write it only costs the next pull a full copy.
  if (!write_record(state_dir, replica, *old_size / k_page_size, *changed).ok())
    ::unlink(spare_path(state_dir).c_str());
  return {};
}

}  // namespace turso_sync
