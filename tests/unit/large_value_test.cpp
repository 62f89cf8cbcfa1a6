// Large values (docs/changeset.md, "Large values"): a TEXT or BLOB whose bytes stay in a LargeStore compares,
// orders and reads back exactly like the same value in memory, and a request body splices its base64 in as it
// is read, byte for byte what the whole body would be.
#include <gtest/gtest.h>

#include <random>

#include "remote/request_body.h"
#include "turso_sync/value.h"
#include "util/large_store.h"
#include "util/text.h"

namespace turso_sync {
namespace {

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

std::shared_ptr<LargeStore> new_store() {
  auto store = LargeStore::create("", "a test");
  EXPECT_TRUE(store.ok());
  return store.ok() ? store.value() : nullptr;
}

TEST(LargeValue, ComparesAndReadsBackLikeTheValueInMemory) {
  auto store = new_store();
  ASSERT_TRUE(store);
  std::string bytes = random_bytes((3 << 20) + 7, 1);
  Value in_memory = Value::blob(bytes);
  auto large = store_large(store, in_memory);
  ASSERT_TRUE(large.ok()) << large.error().message();
  EXPECT_TRUE(large->is_large());
  EXPECT_EQ(large->type(), ValueType::blob);
  EXPECT_EQ(large->byte_size(), bytes.size());
  EXPECT_EQ(*large, in_memory);
  EXPECT_EQ(compare(*large, in_memory), 0);
  EXPECT_NE(*large, Value::text(bytes));  // the storage class counts

  std::string changed = bytes;
  changed[changed.size() - 1] ^= 1;  // the last byte only: in the last chunk
  auto other = store_large(store, Value::blob(changed));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*large, *other);
  EXPECT_EQ(compare(*large, *other), bytes < changed ? -1 : 1);
  auto prefix = store_large(store, Value::blob(bytes.substr(0, bytes.size() - 1)));
  ASSERT_TRUE(prefix.ok());
  EXPECT_EQ(compare(*prefix, *large), -1);  // a prefix orders first

  std::string read;
  ASSERT_TRUE(large->for_each_chunk(100000, [&](std::string_view piece) {
    EXPECT_LE(piece.size(), 100000u);
    read += piece;
    return true;
  }));
  EXPECT_EQ(read, bytes);
  EXPECT_EQ(large->as_bytes(), bytes);
  EXPECT_EQ(describe(*large, 10), describe(in_memory, 10));
}

TEST(LargeValue, ARequestBodyReadInPiecesIsTheWholeBody) {
  auto store = new_store();
  ASSERT_TRUE(store);
  HttpTransport::Request request;
  request.body = R"({"a":"","b":"","c":[1,""]})";
  // Sizes around multiples of the encoder's 3-byte groups and of its pieces.
  std::vector<Value> values = {Value::blob(random_bytes((1 << 20) + 1, 2)),
                               Value::blob(random_bytes(3 * 64 * 1024, 3)), Value::blob("")};
  size_t positions[] = {6, 13, 23};
  for (size_t i = 0; i < values.size(); ++i) {
    Value v = values[i].byte_size() > 0 ? store_large(store, values[i]).value() : values[i];
    request.splices.push_back(BodySplice{positions[i], v});
  }
  std::string expected = std::string(R"({"a":")") + base64_encode(values[0].as_bytes()) + R"(","b":")" +
                         base64_encode(values[1].as_bytes()) + R"(","c":[1,""]})";
  EXPECT_EQ(whole_body(request), expected);
  EXPECT_EQ(body_size(request), expected.size());
  for (size_t step : {size_t{1}, size_t{7}, size_t{16384}, size_t{1} << 22}) {
    SCOPED_TRACE(step);
    BodyReader reader(request);
    std::string got;
    std::string buffer(step, '\0');
    for (int rounds = 0; rounds < 2; ++rounds) {  // read, rewind, read again
      got.clear();
      while (true) {
        auto n = reader.read(buffer.data(), step);
        ASSERT_TRUE(n.ok());
        if (n.value() == 0) break;
        got.append(buffer.data(), n.value());
        if (step == 1 && got.size() > 100000) break;  // byte by byte: the start is enough
      }
      EXPECT_EQ(got, expected.substr(0, got.size()));
      if (step != 1) {
        EXPECT_EQ(got.size(), expected.size());
      }
      reader.rewind();
    }
  }
}

}  // namespace
}  // namespace turso_sync
