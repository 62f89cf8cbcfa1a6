// order_value_moves (sync/push_unique.h): the updates of a push to a table with a UNIQUE index, ordered so
// that a value is freed before another row takes it.
#include <gtest/gtest.h>

#include <vector>

#include "sync/push_unique.h"

namespace turso_sync {
namespace {

// An update of row `id` whose column 1 goes from `from` to `to` (NULL when empty).
RowChange move(int64_t id, const std::string& from, const std::string& to) {
  RowChange r;
  r.op = RowOp::update;
  r.key = {Value::integer(id)};
  r.old_values = {Value::integer(id), from.empty() ? Value::null() : Value::text(from)};
  r.new_values = {Value::integer(id), to.empty() ? Value::null() : Value::text(to)};
  r.changed_columns = {1};
  return r;
}

TEST(ValueMoves, AValueIsFreedBeforeAnotherRowTakesIt) {
  // Row 2 takes row 3's address, row 3 takes row 4's: key order would fail twice.
  std::vector<RowChange> updates = {move(2, "b@x", "c@x"), move(3, "c@x", "d@x"), move(4, "d@x", "e@x")};
  EXPECT_EQ(order_value_moves(updates), (std::vector<size_t>{2, 1, 0}));
}

TEST(ValueMoves, TextComparesWithoutAsciiCaseAsNocaseIndexesDo) {
  std::vector<RowChange> updates = {move(2, "m1@x", "M2@x"), move(3, "m2@x", "M5@x")};
  EXPECT_EQ(order_value_moves(updates), (std::vector<size_t>{1, 0}));
}

TEST(ValueMoves, IndependentUpdatesNullsAndSwapsKeepTheirOrder) {
  EXPECT_EQ(order_value_moves({move(1, "a", "b"), move(2, "c", "d")}), (std::vector<size_t>{0, 1}));
  EXPECT_EQ(order_value_moves({move(1, "", "x"), move(2, "y", "")}), (std::vector<size_t>{0, 1}));
  // A swap is a cycle: no order helps; each row still comes once.
  std::vector<size_t> swap = order_value_moves({move(1, "a", "b"), move(2, "b", "a")});
  std::sort(swap.begin(), swap.end());
  EXPECT_EQ(swap, (std::vector<size_t>{0, 1}));
  // An update that writes its own old value back (another column changed) depends on nothing.
  EXPECT_EQ(order_value_moves({move(1, "a", "a"), move(2, "b", "c")}), (std::vector<size_t>{0, 1}));
}

}  // namespace
}  // namespace turso_sync
