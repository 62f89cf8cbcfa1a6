// A structural check of a downloaded page image, without SQLite: every b-tree SQLite's own quick_check would
// walk, checked the way its b-tree layer checks them (sqlite3BtreeIntegrityCheck), from the bytes of a new
// file of ours that no SQLite connection has open yet.
//
// What a sound image has: page 1 an SQLite header (4096-byte pages, no reserved bytes, no auto-vacuum) whose
// database size is the file's; the schema's tree and every tree its rows name (rootpage) well formed: page
// headers, cell pointers and cells inside the page, cells, freeblocks and fragments adding up with no
// overlap, table trees' rowids in order and within their parents' bounds, every leaf at the same depth, every
// overflow chain as long as its cell's payload needs; record headers that add up to their payloads (tables
// and indexes); the freelist's trunks and leaves; and every page used exactly once (the 1 GiB lock page
// aside). It reads each page once, in order, and keeps a few words per page, so it takes a fraction of
// quick_check's time, which decodes every record through SQLite's page cache.
//
// What it leaves to SQLite: NOT NULL and CHECK constraints, and whether indexes match their tables (data the
// server holds, not damage in transit). A layout it does not cover (auto-vacuum's pointer-map pages,
// reserved bytes per page, a UTF-16 database, a schema row whose rootpage lies in an overflow page) makes it
// answer `unsupported`: the caller then runs PRAGMA quick_check instead.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "turso_sync/status.h"

namespace turso_sync {

struct ImageCheck {
  enum class Verdict { sound, damaged, unsupported };
  Verdict verdict = Verdict::unsupported;
  // damaged: what is wrong, naming the page (1-based, as SQLite does); unsupported: which layout.
  std::string problem;
  // sound: the rows of each rowid table (WITHOUT ROWID tables and indexes are not listed), by root page.
  std::map<uint32_t, int64_t> rows_by_root;
};

// Checks the image in `fd` (a file of ours, `pages` pages of 4096 bytes; mapped a 1 MiB window at a time, or
// read where it cannot be mapped or `map_pages` is false; never closed here). I/O errors are errors;
// everything found in the bytes is the verdict.
Result<ImageCheck> check_image_structure(int fd, uint64_t pages, const std::string& path,
                                         bool map_pages = true);

}  // namespace turso_sync
