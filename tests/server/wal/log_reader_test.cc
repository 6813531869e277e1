#include "server/wal/log_reader.h"

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/wal/coding.h"
#include "server/wal/files.h"
#include "tests/server/wal/log_files_util.h"
#include "tests/testing/status_matchers.h"

namespace taala::wal {
namespace {

using test::Frames;
using test::ReadAll;
using test::ReadRaw;
using test::StatusIs;
using test::TempDir;
using test::WriteRaw;
using test::WriteSegment;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> v;
  for (uint64_t i = first; i <= last; ++i) v.push_back(i);
  return v;
}

TEST(LogReaderTest, EmptyDirectoryHasNoRecords) {
  TempDir dir;
  test::ReadBack r = ReadAll(dir.path(), true);
  ASSERT_OK(r.result);
  EXPECT_EQ(r.result->last_lsn, 0u);
  EXPECT_THAT(r.lsns, IsEmpty());
}

TEST(LogReaderTest, ReadsSegmentsInLsnOrderAfterTheGivenLsn) {
  TempDir dir;
  WriteSegment(dir.path(), 11, Frames(11, 20));
  WriteSegment(dir.path(), 1, Frames(1, 10));
  WriteSegment(dir.path(), 21, Frames(21, 25));
  test::ReadBack r = ReadAll(dir.path(), true, /*after=*/15);
  ASSERT_OK(r.result);
  EXPECT_EQ(r.lsns, Range(16, 25));
  EXPECT_EQ(r.result->last_lsn, 25u);
  EXPECT_EQ(r.result->segments, 3u);
  EXPECT_THAT(r.result->warnings, IsEmpty());
}

TEST(LogReaderTest, TornTailIsCutWithAWarningNamingFileAndOffset) {
  TempDir dir;
  const std::string good = Frames(1, 10);
  const std::string path =
      WriteSegment(dir.path(), 1, good + Frames(11, 11).substr(0, 7));
  const size_t offset = kSegmentHeaderSize + good.size();

  test::ReadBack dry = ReadAll(dir.path(), /*repair=*/false);
  ASSERT_OK(dry.result);
  EXPECT_EQ(ReadRaw(path).size(), offset + 7);  // Not repaired.

  test::ReadBack r = ReadAll(dir.path(), /*repair=*/true);
  ASSERT_OK(r.result);
  EXPECT_EQ(r.lsns, Range(1, 10));
  EXPECT_TRUE(r.result->torn_tail);
  ASSERT_THAT(r.result->warnings, SizeIs(1));
  EXPECT_EQ(r.result->warnings[0],
            "cut off a torn tail of " + path + " at offset " +
                std::to_string(offset) + " (7 bytes)");
  EXPECT_EQ(ReadRaw(path).size(), offset);
  test::ReadBack again = ReadAll(dir.path(), true);
  ASSERT_OK(again.result);
  EXPECT_THAT(again.result->warnings, IsEmpty());
  EXPECT_EQ(again.lsns, Range(1, 10));
}

TEST(LogReaderTest, CrcMismatchInTheLastRecordIsATornTail) {
  TempDir dir;
  std::string body = Frames(1, 5);
  body[body.size() - 1] ^= 0x40;
  WriteSegment(dir.path(), 1, body);
  test::ReadBack r = ReadAll(dir.path(), true);
  ASSERT_OK(r.result);
  EXPECT_EQ(r.lsns, Range(1, 4));
  EXPECT_TRUE(r.result->torn_tail);
}

TEST(LogReaderTest, AbsurdLengthIsATornTail) {
  TempDir dir;
  std::string bad;
  PutFixed32(&bad, (16u << 20) + 1);
  PutFixed32(&bad, 0);
  WriteSegment(dir.path(), 1, Frames(1, 3) + bad + std::string(100, 'x'));
  test::ReadBack r = ReadAll(dir.path(), true);
  ASSERT_OK(r.result);
  EXPECT_EQ(r.lsns, Range(1, 3));
  EXPECT_TRUE(r.result->torn_tail);
}

TEST(LogReaderTest, CorruptMiddleIsRefusedNamingFileAndOffset) {
  TempDir dir;
  std::string body = Frames(1, 10);
  const std::string first_five = Frames(1, 5);
  body[first_five.size() + 10] ^= 0x01;  // Inside record 6.
  const std::string path = WriteSegment(dir.path(), 1, body);
  test::ReadBack r = ReadAll(dir.path(), true);
  EXPECT_THAT(r.result,
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr(path + " is corrupt in the middle at offset " +
                                 std::to_string(kSegmentHeaderSize +
                                                first_five.size()))));
  EXPECT_THAT(r.result.status().message(),
              HasSubstr("records after it would be lost"));
  EXPECT_EQ(ReadRaw(path).size(), kSegmentHeaderSize + body.size());
}

TEST(LogReaderTest, BadTailFollowedByALaterSegmentIsACorruptMiddle) {
  TempDir dir;
  WriteSegment(dir.path(), 1, Frames(1, 5) + "garbage");
  WriteSegment(dir.path(), 6, Frames(6, 9));
  test::ReadBack r = ReadAll(dir.path(), true);
  EXPECT_THAT(r.result, StatusIs(absl::StatusCode::kDataLoss,
                                 HasSubstr("corrupt in the middle")));
}

// The writer starts a segment only after the one before is written and
// fsynced: a bad end of a segment that has a later one is no torn write,
// even if the later ones hold no record.
TEST(LogReaderTest, ABadEndBeforeLaterEmptySegmentsIsACorruptMiddle) {
  TempDir dir;
  const std::string first = WriteSegment(dir.path(), 1, Frames(1, 5) + "xx");
  const std::string empty = WriteSegment(dir.path(), 6, "");
  const std::string junk = SegmentPath(dir.path(), 7);
  WriteRaw(junk, "TAALA");  // A torn header.
  test::ReadBack r = ReadAll(dir.path(), true);
  EXPECT_THAT(r.result, StatusIs(absl::StatusCode::kDataLoss,
                                 HasSubstr("corrupt in the middle")));
  EXPECT_TRUE(std::filesystem::exists(empty));
  EXPECT_TRUE(std::filesystem::exists(junk));
  EXPECT_EQ(ReadRaw(first).size(), kSegmentHeaderSize + Frames(1, 5).size() + 2);
}

// A crash while a new segment's header was written: only the last segment
// is torn, and it goes.
TEST(LogReaderTest, ATornHeaderOfTheLastSegmentGoesWithTheTornTail) {
  TempDir dir;
  const std::string first = WriteSegment(dir.path(), 1, Frames(1, 5));
  const std::string junk = SegmentPath(dir.path(), 6);
  WriteRaw(junk, "TAALA");
  test::ReadBack r = ReadAll(dir.path(), true);
  ASSERT_OK(r.result);
  EXPECT_EQ(r.lsns, Range(1, 5));
  EXPECT_THAT(r.result->warnings, SizeIs(1));
  EXPECT_FALSE(std::filesystem::exists(junk));
  EXPECT_TRUE(std::filesystem::exists(first));
}

TEST(LogReaderTest, DuplicatedRecordsAreACorruptMiddle) {
  TempDir dir;
  WriteSegment(dir.path(), 1, Frames(1, 6) + Frames(4, 6) + Frames(7, 9));
  test::ReadBack r = ReadAll(dir.path(), true);
  EXPECT_THAT(r.result, StatusIs(absl::StatusCode::kDataLoss));
}

TEST(LogReaderTest, DuplicatedTailIsTorn) {
  TempDir dir;
  WriteSegment(dir.path(), 1, Frames(1, 6) + Frames(4, 6));
  test::ReadBack r = ReadAll(dir.path(), true);
  ASSERT_OK(r.result);
  EXPECT_EQ(r.lsns, Range(1, 6));
}

TEST(LogReaderTest, NewerVersionIsRefusedNamingFileAndVersions) {
  TempDir dir;
  std::string header(kSegmentMagic, 8);
  PutFixed32(&header, 7);
  PutFixed32(&header, 0);
  (void)MakeDir(WalDir(dir.path()));
  const std::string path = SegmentPath(dir.path(), 1);
  WriteRaw(path, header + Frames(1, 2));
  test::ReadBack r = ReadAll(dir.path(), true);
  EXPECT_THAT(r.result,
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(path + " has format version 7; this taalad "
                                        "reads version 1")));
}

TEST(LogReaderTest, CallbackErrorStopsReading) {
  TempDir dir;
  WriteSegment(dir.path(), 1, Frames(1, 5));
  int seen = 0;
  absl::StatusOr<LogReadResult> r =
      ReadLog(dir.path(), {}, [&seen](const Transition& t) {
        ++seen;
        return t.lsn == 3 ? absl::DataLossError("no") : absl::OkStatus();
      });
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_EQ(seen, 3);
}

TEST(LogReaderTest, SegmentMissingWholeRecordsAtItsEndIsACorruptMiddle) {
  TempDir dir;
  const std::string first = WriteSegment(dir.path(), 1, Frames(1, 7));
  WriteSegment(dir.path(), 11, Frames(11, 12));  // Chained to record 10.
  test::ReadBack r = ReadAll(dir.path(), true);
  EXPECT_THAT(r.result, StatusIs(absl::StatusCode::kDataLoss,
                                 HasSubstr(first + " is corrupt in the middle")));
}

TEST(LogReaderTest, HeaderOnlySegmentIsFine) {
  TempDir dir;
  WriteSegment(dir.path(), 1, Frames(1, 3));
  WriteSegment(dir.path(), 4, "");
  test::ReadBack r = ReadAll(dir.path(), true);
  ASSERT_OK(r.result);
  EXPECT_THAT(r.lsns, ElementsAre(1, 2, 3));
  EXPECT_THAT(r.result->warnings, IsEmpty());
}

}  // namespace
}  // namespace taala::wal
