// SQL expressions built from many terms, kept within SQLite's limits.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace turso_sync {

// `terms` joined by `op` ("AND", "OR") as a balanced tree of parentheses: SQLite refuses an expression deeper
// than SQLITE_MAX_EXPR_DEPTH (1000), which a flat chain over a table's 2000 columns is. "1" when empty.
std::string balanced_sql(const std::vector<std::string>& terms, std::string_view op = "AND");

}  // namespace turso_sync
