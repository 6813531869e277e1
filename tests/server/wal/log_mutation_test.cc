// Random single mutations of a real log: the reader never crashes or hangs,
// and the outcome is always exactly one of: all good, a truncated tail (the
// records read are a prefix of the originals), or a corrupt middle.

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/wal/files.h"
#include "tests/server/wal/log_files_util.h"

namespace taala::wal {
namespace {

using test::Frames;
using test::TempDir;

constexpr uint64_t kRecords = 300;
constexpr uint64_t kPerSegment = 100;

struct Segment {
  std::string path;
  std::string bytes;
};

class LogMutationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (uint64_t first = 1; first <= kRecords; first += kPerSegment) {
      segments_.push_back(
          Segment{SegmentPath(dir_.path(), first),
                  SegmentHeader(first - 1) + Frames(first, first + kPerSegment - 1)});
    }
  }

  // Writes the log with segment `which` replaced by `bytes`, reads it with
  // repair, and checks the outcome. `truncation`: the mutation only cut
  // bytes off, so a shorter log with no warning is possible.
  void Check(size_t which, const std::string& bytes, bool truncation,
             bool touches_version, const std::string& what) {
    SCOPED_TRACE(what);
    std::filesystem::remove_all(WalDir(dir_.path()));
    ASSERT_TRUE(MakeDir(WalDir(dir_.path())).ok());
    for (size_t i = 0; i < segments_.size(); ++i) {
      test::WriteRaw(segments_[i].path,
                     i == which ? bytes : segments_[i].bytes);
    }
    test::ReadBack r = test::ReadAll(dir_.path(), /*repair=*/true);
    if (!r.result.ok()) {
      const absl::Status& s = r.result.status();
      if (touches_version &&
          s.code() == absl::StatusCode::kFailedPrecondition) {
        ++outcomes_["newer version"];
        return;
      }
      ASSERT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
      ASSERT_NE(s.message().find("corrupt in the middle"), std::string::npos)
          << s;
      ++outcomes_["corrupt middle"];
      return;
    }
    for (size_t i = 0; i < r.lsns.size(); ++i) {
      ASSERT_EQ(r.lsns[i], i + 1) << "not a prefix of the originals";
    }
    if (r.result->torn_tail) {
      ASSERT_FALSE(r.result->warnings.empty());
      ++outcomes_["torn tail"];
      // Repaired: a second read is clean and gives the same records.
      test::ReadBack again = test::ReadAll(dir_.path(), true);
      ASSERT_TRUE(again.result.ok()) << again.result.status();
      ASSERT_FALSE(again.result->torn_tail);
      ASSERT_EQ(again.lsns, r.lsns);
    } else {
      ASSERT_TRUE(r.result->warnings.empty());
      if (!truncation) ASSERT_EQ(r.lsns.size(), kRecords);
      ++outcomes_["all good"];
    }
  }

  TempDir dir_;
  std::vector<Segment> segments_;
  std::map<std::string, int> outcomes_;
};

TEST_F(LogMutationTest, TruncationAtEveryOffsetOfTheLastSegment) {
  const size_t last = segments_.size() - 1;
  const std::string& bytes = segments_[last].bytes;
  for (size_t n = 0; n <= bytes.size(); ++n) {
    Check(last, bytes.substr(0, n), true, false,
          "truncate last segment to " + std::to_string(n));
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(outcomes_["torn tail"], 0);
  EXPECT_GT(outcomes_["all good"], 0);
  EXPECT_EQ(outcomes_["corrupt middle"], 0);
}

TEST_F(LogMutationTest, RandomSingleMutations) {
  std::mt19937_64 rng(::testing::UnitTest::GetInstance()->random_seed() +
                      20261201);
  for (int i = 0; i < 4000; ++i) {
    const size_t which = rng() % segments_.size();
    std::string bytes = segments_[which].bytes;
    const size_t pos = rng() % bytes.size();
    std::string what;
    bool truncation = false;
    bool touches_version = false;
    switch (rng() % 5) {
      case 0: {
        const int bit = rng() % 8;
        bytes[pos] ^= static_cast<char>(1 << bit);
        what = "flip bit " + std::to_string(bit) + " at " + std::to_string(pos);
        touches_version = pos >= 8 && pos < 12;
        break;
      }
      case 1: {
        const size_t len = std::min<size_t>(1 + rng() % 16, bytes.size() - pos);
        for (size_t j = 0; j < len; ++j) bytes[pos + j] = static_cast<char>(rng());
        what = "overwrite " + std::to_string(len) + " at " + std::to_string(pos);
        touches_version = pos < 12 && pos + len > 8;
        break;
      }
      case 2:
        bytes.resize(pos);
        truncation = true;
        what = "truncate at " + std::to_string(pos);
        break;
      case 3: {
        std::string garbage(1 + rng() % 40, '\0');
        for (char& c : garbage) c = static_cast<char>(rng());
        bytes.insert(pos, garbage);
        what = "insert " + std::to_string(garbage.size()) + " at " +
               std::to_string(pos);
        touches_version = pos < 12;
        break;
      }
      default: {
        const size_t len = std::min<size_t>(1 + rng() % 200, bytes.size() - pos);
        bytes.insert(pos, bytes.substr(pos, len));
        what = "duplicate " + std::to_string(len) + " at " + std::to_string(pos);
        touches_version = pos < 12;
        break;
      }
      // Not here: erasing bytes from the middle. Cutting out exactly whole
      // frames leaves a log with an LSN gap, which LSNs taken by
      // TakeNumber make legal: the format cannot tell (see files.h).
    }
    Check(which, bytes, truncation, touches_version,
          "segment " + std::to_string(which) + ": " + what);
    if (HasFatalFailure()) return;
  }
  for (const auto& [outcome, n] : outcomes_) {
    std::printf("%-15s %d\n", outcome.c_str(), n);
  }
  EXPECT_GT(outcomes_["corrupt middle"], 0);
  EXPECT_GT(outcomes_["torn tail"], 0);
}

}  // namespace
}  // namespace taala::wal
