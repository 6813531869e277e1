#include "server/core/token_epoch.h"

#include <stdlib.h>

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::IsOkAndHolds;
using ::taala::test::StatusIs;

std::string TempDir() {
  std::string pattern = ::testing::TempDir() + "taala_epoch_XXXXXX";
  char* dir = mkdtemp(pattern.data());
  EXPECT_NE(dir, nullptr);
  return pattern;
}

TEST(TokenEpochTest, IncreasesOnEveryStart) {
  const std::string dir = TempDir() + "/data";  // Created on first use.
  EXPECT_THAT(NextTokenEpoch(dir), IsOkAndHolds(1u));
  EXPECT_THAT(NextTokenEpoch(dir), IsOkAndHolds(2u));
  EXPECT_THAT(NextTokenEpoch(dir), IsOkAndHolds(3u));
}

TEST(TokenEpochTest, CorruptFileStopsStartInsteadOfReusingTokens) {
  const std::string dir = TempDir();
  std::ofstream(dir + "/token_epoch") << "garbage";
  EXPECT_THAT(NextTokenEpoch(dir), StatusIs(absl::StatusCode::kDataLoss));
}

TEST(TokenEpochTest, UnwritableDirectoryIsAnError) {
  EXPECT_THAT(NextTokenEpoch("/proc/taala-cannot-exist"),
              StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace taala
