// RowList: row changes held in memory or spilled to an anonymous temporary file, read back exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "turso_sync/changeset.h"

namespace turso_sync {
namespace {

// A row of every storage class and edge value, varied by `i`; `big` adds a value larger than one read-ahead.
RowChange sample_row(int64_t i, bool big = false) {
  RowChange r;
  r.op = static_cast<RowOp>(i % 3);
  r.key = {Value::integer(i)};
  std::vector<Value> values = {
      Value::null(),
      Value::integer(i % 2 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max() - i),
      Value::real(i % 2 ? -0.0 : 0.1 + static_cast<double>(i)),
      Value::real(std::numeric_limits<double>::denorm_min()),
      Value::text("é \xf0\x9f\x98\x80 " + std::to_string(i)),
      Value::text(std::string("a\0b\xff", 4)),
      Value::blob(std::string(static_cast<size_t>(i % 50), '\0')),
      Value::blob(big ? std::string(600 << 10, static_cast<char>(i)) : std::string()),
  };
  if (r.op != RowOp::insert) r.old_values = values;
  if (r.op != RowOp::remove) {
    r.new_values = values;
    r.new_values[0] = Value::integer(i);
  }
  if (r.op == RowOp::update) r.changed_columns = {0, static_cast<int>(i % 7) + 1};
  return r;
}

void expect_same(const RowChange& a, const RowChange& b) {
  EXPECT_EQ(a.op, b.op);
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.old_values, b.old_values);  // exact: storage class and bytes, REAL bit for bit
  EXPECT_EQ(a.new_values, b.new_values);
  EXPECT_EQ(a.changed_columns, b.changed_columns);
}

std::vector<RowChange> read_all(const RowList& list) {
  std::vector<RowChange> out;
  RowCursor rows = list.cursor();
  while (true) {
    auto next = rows.next();
    EXPECT_TRUE(next.ok());
    if (!next.ok() || !*next) break;
    EXPECT_EQ(rows.index(), out.size());
    out.push_back(**next);
  }
  return out;
}

TEST(RowList, SpilledRowsReadBackExactlyByCursorAndByIndex) {
  // 30000 rows cross several 1 MiB write buffers and 256 KiB read-aheads; some records exceed a read-ahead;
  // the last rows are still in the write buffer when read.
  std::vector<RowChange> expected;
  RowList list;
  for (int64_t i = 0; i < 30000; ++i) {
    expected.push_back(sample_row(i, i % 4999 == 17));
    ASSERT_TRUE(list.push_back(expected.back()).ok());
    if (i == 100) {
      ASSERT_TRUE(list.spill("").ok());
      EXPECT_TRUE(list.spilled());
    }
  }
  ASSERT_EQ(list.size(), expected.size());
  EXPECT_LT(list.memory_bytes(), 4u << 20);  // offsets and a write buffer, not the rows
  std::vector<RowChange> got = read_all(list);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) expect_same(got[i], expected[i]);
  std::mt19937 rng(7);
  for (int n = 0; n < 500; ++n) {
    size_t i = rng() % expected.size();
    auto row = list.at(i);
    ASSERT_TRUE(row.ok());
    expect_same(*row, expected[i]);
  }
  EXPECT_FALSE(list.at(expected.size()).ok());
  // A NaN stays the bit pattern it was.
  RowChange nan = sample_row(1);
  nan.new_values[2] = Value::real(std::nan("0x7"));
  ASSERT_TRUE(list.push_back(nan).ok());
  auto back = list.at(list.size() - 1);
  ASSERT_TRUE(back.ok());
  uint64_t a, b;
  double x = nan.new_values[2].as_real(), y = back->new_values[2].as_real();
  std::memcpy(&a, &x, 8);
  std::memcpy(&b, &y, 8);
  EXPECT_EQ(a, b);
}

// A value longer than the write buffer goes straight to the file and straight back into its string.
TEST(RowList, ValuesLongerThanTheBuffersRoundTrip) {
  RowList list;
  ASSERT_TRUE(list.spill("").ok());
  std::vector<RowChange> expected;
  for (int64_t i = 0; i < 40; ++i) {
    RowChange r = sample_row(i);
    if (i % 9 == 4) {
      std::string bytes(static_cast<size_t>(3 << 20) + static_cast<size_t>(i), '\0');
      for (size_t k = 0; k < bytes.size(); k += 4093)
        bytes[k] = static_cast<char>(k * 31 + static_cast<size_t>(i));
      r.key = {Value::integer(i)};
      r.op = RowOp::update;
      r.old_values = {Value::blob(bytes), Value::text("small")};
      bytes[7] = 'x';
      r.new_values = {Value::blob(bytes), Value::text("small")};
      r.changed_columns = {0};
    }
    expected.push_back(r);
    ASSERT_TRUE(list.append(r).ok());
  }
  std::vector<RowChange> got = read_all(list);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) expect_same(got[i], expected[i]);
  // A value of 1 MiB or more comes back as a large value in the spill file, not in memory.
  EXPECT_TRUE(got[4].new_values[0].is_large());
  EXPECT_FALSE(got[4].new_values[1].is_large());
  EXPECT_EQ(got[4].new_values[0].byte_size(), expected[4].new_values[0].byte_size());
  for (size_t i : {size_t{4}, size_t{13}, size_t{39}, size_t{0}}) {
    auto row = list.at(i);
    ASSERT_TRUE(row.ok());
    expect_same(*row, expected[i]);
  }
}

TEST(RowList, RetainKeepsOrderInMemoryAndSpilled) {
  for (bool spill : {false, true}) {
    RowList list;
    if (spill) {
      ASSERT_TRUE(list.spill("").ok());
    }
    for (int64_t i = 0; i < 5000; ++i) ASSERT_TRUE(list.push_back(sample_row(i)).ok());
    ASSERT_TRUE(list.retain([](const RowChange& r) { return r.key[0].as_integer() % 3 == 1; }).ok());
    EXPECT_EQ(list.spilled(), spill);
    std::vector<RowChange> got = read_all(list);
    ASSERT_EQ(got.size(), 1667u);
    for (size_t i = 0; i < got.size(); ++i) expect_same(got[i], sample_row(static_cast<int64_t>(3 * i + 1)));
  }
}

// The collector spills once its rows pass the budget, over all tables, and replays the same changeset.
TEST(RowList, CollectorSpillsPastItsBudget) {
  TableDesc small, large;
  small.name = "small";
  large.name = "large";
  ChangesetCollector collector("", 64 << 10);
  ASSERT_TRUE(collector.schema({}, {}).ok());
  ASSERT_TRUE(collector.table_begin(small).ok());
  for (int64_t i = 0; i < 10; ++i) ASSERT_TRUE(collector.row(small, sample_row(i)).ok());
  ASSERT_TRUE(collector.table_end(small, {}).ok());
  ASSERT_TRUE(collector.table_begin(large).ok());
  for (int64_t i = 0; i < 20000; ++i) ASSERT_TRUE(collector.row(large, sample_row(i)).ok());
  ASSERT_TRUE(collector.table_end(large, {}).ok());
  ASSERT_TRUE(collector.finish({}).ok());
  Changeset cs = collector.take();
  ASSERT_EQ(cs.tables.size(), 2u);
  EXPECT_FALSE(cs.tables[0].rows.spilled());
  EXPECT_TRUE(cs.tables[1].rows.spilled());
  EXPECT_LT(cs.tables[1].rows.memory_bytes(), 4u << 20);  // offsets and a write buffer
  ChangesetCollector again("", 0);                        // every row spilled
  ASSERT_TRUE(cs.replay(again).ok());
  Changeset copy = again.take();
  ASSERT_EQ(copy.tables.size(), 2u);
  EXPECT_TRUE(copy.tables[0].rows.spilled());
  std::vector<RowChange> got = read_all(copy.tables[1].rows);
  ASSERT_EQ(got.size(), 20000u);
  for (size_t i = 0; i < got.size(); ++i) expect_same(got[i], sample_row(static_cast<int64_t>(i)));
}

}  // namespace
}  // namespace turso_sync
