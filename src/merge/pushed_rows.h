// PushedRows: the rows this copy has just pushed (MergeOptions::pushed), looked up by key while the trailing
// pull of a push merges, so that they are the base of the three-way rules instead of the old replica's rows.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "turso_sync/changeset.h"
#include "turso_sync/status.h"
#include "turso_sync/value.h"

namespace turso_sync::merge {

// The rows of one table that this copy pushed (MergeOptions::pushed), found by key: a sorted index of key
// hashes (16 bytes a row), the rows themselves read from their RowList (which may be spilled to disk).
class PushedRows {
 public:
  explicit PushedRows(const RowList& rows) : m_rows(&rows) {}

  Status index() {
    m_index.reserve(m_rows->size());
    RowCursor rows = m_rows->cursor();
    while (const RowChange* r = TS_TRY(rows.next())) m_index.emplace_back(hash(r->key), rows.index());
    std::sort(m_index.begin(), m_index.end());
    return {};
  }

  // The pushed row change of `key`, nullopt when the push did not change that key.
  Result<std::optional<RowChange>> find(const std::vector<Value>& key) const {
    uint64_t h = hash(key);
    auto it = std::lower_bound(m_index.begin(), m_index.end(), std::make_pair(h, size_t{0}));
    for (; it != m_index.end() && it->first == h; ++it) {
      RowChange r = TS_TRY(m_rows->at(it->second));
      if (r.key == key) return std::optional<RowChange>(std::move(r));
    }
    return std::optional<RowChange>();
  }

 private:
  static uint64_t hash(const std::vector<Value>& key) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over each value's type and bytes
    auto mix = [&h](const void* p, size_t n) {
      for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const unsigned char*>(p)[i]) * 1099511628211ull;
    };
    for (const Value& v : key) {
      auto type = static_cast<unsigned char>(v.type());
      mix(&type, 1);
      if (v.type() == ValueType::integer) {
        int64_t i = v.as_integer();
        mix(&i, sizeof i);
      } else if (v.type() == ValueType::real) {
        double d = v.as_real();
        mix(&d, sizeof d);
      } else if (v.type() != ValueType::null) {
        mix(v.as_bytes().data(), v.as_bytes().size());
      }
    }
    return h;
  }

  const RowList* m_rows;
  std::vector<std::pair<uint64_t, size_t>> m_index;  // (key hash, row index), sorted
};

}  // namespace turso_sync::merge
