// Reading SQLite's file format (https://www.sqlite.org/fileformat2.html): the big-endian integers and varints
// of page headers, cells and records, and how much of a cell's payload a page holds. Shared by the diff's
// page fast path (diff/page_scan.cpp) and the structural check of downloaded images (sync/image_check.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace turso_sync::db {

inline uint16_t get_be16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
inline uint32_t get_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

// SQLite's varint: 1-9 bytes, big-endian, 7 bits per byte except a full 9th byte. Returns bytes used (0:
// it runs past `end`).
inline size_t get_varint(const uint8_t* p, const uint8_t* end, uint64_t* v) {
  if (p < end && p[0] < 0x80) {  // most are one byte: serial types, header sizes, small payloads
    *v = p[0];
    return 1;
  }
  uint64_t x = 0;
  for (size_t i = 0; i < 9; ++i) {
    if (p + i >= end) return 0;
    if (i == 8) {
      *v = (x << 8) | p[i];
      return 9;
    }
    x = (x << 7) | (p[i] & 0x7F);
    if (!(p[i] & 0x80)) {
      *v = x;
      return i + 1;
    }
  }
  return 0;
}

// The most payload bytes a cell keeps on its page before spilling to overflow pages: a table leaf's, or an
// index page's; and the least a spilling cell keeps (pages of `usable` bytes).
inline uint64_t max_local_payload(uint32_t usable, bool table_leaf) {
  return table_leaf ? usable - 35 : (uint64_t{usable} - 12) * 64 / 255 - 23;
}
inline uint64_t min_local_payload(uint32_t usable) {
  return (uint64_t{usable} - 12) * 32 / 255 - 23;
}

}  // namespace turso_sync::db
