#include "util/sql_expr.h"

namespace turso_sync {

namespace {

std::string balanced_range(const std::vector<std::string>& terms, size_t lo, size_t hi, std::string_view op) {
  if (hi - lo == 1) return terms[lo];
  size_t mid = lo + (hi - lo) / 2;
  std::string out = "(" + balanced_range(terms, lo, mid, op);
  out += " ";
  out += op;
  out += " ";
  out += balanced_range(terms, mid, hi, op) + ")";
  return out;
}

}  // namespace

std::string balanced_sql(const std::vector<std::string>& terms, std::string_view op) {
  return terms.empty() ? std::string("1") : balanced_range(terms, 0, terms.size(), op);
}

}  // namespace turso_sync
