#include "turso_sync/value.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "util/text.h"

namespace turso_sync {
namespace {

TEST(Value, RealEqualityIsBitExact) {
  EXPECT_EQ(Value::real(0.1 + 0.2), Value::real(0.30000000000000004));
  EXPECT_NE(Value::real(0.1 + 0.2), Value::real(0.3));
  EXPECT_NE(Value::real(0.0), Value::real(-0.0));
  EXPECT_NE(Value::integer(1), Value::real(1.0));
  EXPECT_NE(Value::text("a"), Value::blob("a"));
  EXPECT_EQ(Value::null(), Value());
}

TEST(Value, CompareFollowsSqliteOrder) {
  EXPECT_LT(compare(Value::null(), Value::integer(-5)), 0);
  EXPECT_LT(compare(Value::integer(1), Value::real(1.5)), 0);
  EXPECT_GT(compare(Value::real(2.5), Value::integer(2)), 0);
  EXPECT_LT(compare(Value::integer(9007199254740992), Value::integer(9007199254740993)), 0);
  EXPECT_LT(compare(Value::real(1e300), Value::text("")), 0);
  EXPECT_LT(compare(Value::text("zz"), Value::blob("")), 0);
  EXPECT_LT(compare(Value::text("a"), Value::text("b")), 0);
}

TEST(Text, FormatRealRoundTrips) {
  for (double v :
       {0.1 + 0.2, -0.0, 5e-324, 2.2250738585072014e-308, 1e308, 9007199254740993.0, 1.0, 123456789.0}) {
    std::string s = format_real(v);
    EXPECT_TRUE(s.find_first_of(".e") != std::string::npos) << s;
    EXPECT_EQ(std::bit_cast<uint64_t>(std::strtod(s.c_str(), nullptr)), std::bit_cast<uint64_t>(v)) << s;
  }
  EXPECT_EQ(format_real(-0.0), "-0.0");
  EXPECT_EQ(format_real(std::numeric_limits<double>::infinity()), "Inf");
}

TEST(Text, Base64RoundTripsAllLengths) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    auto decoded = base64_decode(base64_encode(bytes));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, bytes);
    bytes.push_back(static_cast<char>(i * 37));
  }
  EXPECT_EQ(base64_encode("AB"), "QUI=");
  EXPECT_FALSE(base64_decode("QU=I").has_value());
  EXPECT_FALSE(base64_decode("Q!==").has_value());
}

TEST(Text, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8("héllo ✓ 𝄞"));
  EXPECT_TRUE(is_valid_utf8(std::string("a\0b", 3)));
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));      // truncated
}

TEST(Text, QuoteIdentifier) {
  EXPECT_EQ(quote_identifier("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(quote_identifier("select"), "\"select\"");
}

TEST(Text, MaskSecretNeverShowsMostOfIt) {
  EXPECT_EQ(mask_secret(""), "(none)");
  EXPECT_EQ(mask_secret("eyJhbGciOiJFZERTQSJ9.secret"), "eyJh…(masked)");
  EXPECT_EQ(mask_secret("short"), "…(masked)");
}

}  // namespace
}  // namespace turso_sync
