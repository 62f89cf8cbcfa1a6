#include <gtest/gtest.h>

#include "turso_sync/workflow.h"

namespace turso_sync {
namespace {

using std::chrono::milliseconds;

TEST(WorkflowBackoff, DoublesFromTheSmallerOfIntervalAndFiveSecondsUpToTheCap) {
  // Default interval (300 s): 5, 10, 20, ... capped at 300 s (jitter 0.5 = no scaling).
  EXPECT_EQ(backoff_delay(milliseconds(300'000), 1, 0.5), milliseconds(5'000));
  EXPECT_EQ(backoff_delay(milliseconds(300'000), 2, 0.5), milliseconds(10'000));
  EXPECT_EQ(backoff_delay(milliseconds(300'000), 4, 0.5), milliseconds(40'000));
  EXPECT_EQ(backoff_delay(milliseconds(300'000), 7, 0.5), milliseconds(300'000));
  EXPECT_EQ(backoff_delay(milliseconds(300'000), 60, 0.5), milliseconds(300'000));
  // A short interval still backs off, up to 5 minutes.
  EXPECT_EQ(backoff_delay(milliseconds(1'000), 1, 0.5), milliseconds(1'000));
  EXPECT_EQ(backoff_delay(milliseconds(1'000), 3, 0.5), milliseconds(4'000));
  EXPECT_EQ(backoff_delay(milliseconds(1'000), 30, 0.5), milliseconds(300'000));
  // A long interval is the cap.
  EXPECT_EQ(backoff_delay(milliseconds(3'600'000), 20, 0.5), milliseconds(3'600'000));
}

TEST(WorkflowBackoff, JitterSpreadsWithinAQuarterEitherWay) {
  EXPECT_EQ(backoff_delay(milliseconds(300'000), 2, 0.0), milliseconds(7'500));
  EXPECT_EQ(backoff_delay(milliseconds(300'000), 2, 1.0), milliseconds(12'500));
  for (double j : {0.0, 0.3, 0.99}) {
    EXPECT_LT(backoff_delay(milliseconds(300'000), 1, j), backoff_delay(milliseconds(300'000), 2, 1.0 - j));
  }
}

}  // namespace
}  // namespace turso_sync
