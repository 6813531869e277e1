// Review of issue 12's durable owners (rev-input): owners with odd bytes
// through the record codec, the snapshot body and the dump's text; a
// version 1 snapshot (written before owners) read by this release.

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/durable_state.h"
#include "server/core/transition.h"
#include "server/wal/dump.h"
#include "server/wal/files.h"
#include "server/wal/record_codec.h"
#include "server/wal/snapshot_file.h"
#include "tests/server/wal/wal_test_util.h"

namespace taala::wal {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// 300+ bytes: quotes, a backslash, newlines, NUL, C1 NEL, bytes that are
// not UTF-8 (as a certificate's CN may carry), and a fake field.
std::string OddOwner() {
  std::string owner = "ali\"ce\\ \n SESSION_ENDED lsn=1 owner=\"x\" ";
  owner += std::string("\0\r\t\xC2\x85\x9b\xff\xfe\xC0\x80", 11);
  owner += std::string(300, 'o');
  return owner;
}

TEST(ReviewInputWalTest, OddOwnerRoundTripsThroughTheRecordAndPrintsOnOneLine) {
  Transition t;
  t.type = TransitionType::kSessionCreated;
  t.lsn = 5;
  t.session_id = 0x5e55000000000001;
  t.owner = OddOwner();
  t.client_name = "c";
  t.ttl = absl::Seconds(10);
  std::string payload;
  EncodeTransition(t, &payload);
  Transition back;
  ASSERT_TRUE(DecodeTransition(payload, &back));
  EXPECT_EQ(back, t);
  EXPECT_EQ(back.owner, OddOwner());
  const std::string line = TransitionToString(back);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line.find('\r'), std::string::npos) << line;
  EXPECT_EQ(line.find(std::string("\0", 1)), std::string::npos) << line;
  EXPECT_EQ(line.find("\xC2\x85"), std::string::npos) << line;
  EXPECT_EQ(line.find("\xff"), std::string::npos) << line;
  EXPECT_THAT(line, HasSubstr("owner=\"ali\\\"ce\\\\ \\n SESSION_ENDED"));
  // The forged text stays inside the owner's quotes: exactly one unescaped
  // ` owner="` and one ` client="`.
  EXPECT_THAT(line, HasSubstr("\" client=\"c\""));
}

TEST(ReviewInputWalTest, OddOwnerRoundTripsThroughTheSnapshotBody) {
  DurableState state;
  state.lsn = 9;
  state.max_events = 4;
  DurableSession s;
  s.id = 3;
  s.owner = OddOwner();
  s.client_name = "c";
  s.ttl = absl::Seconds(10);
  s.overflowed = true;
  state.sessions.emplace(3, s);
  DurableSession legacy;
  legacy.id = 4;
  legacy.ttl = absl::Seconds(10);
  state.sessions.emplace(4, legacy);
  DurableState back;
  ASSERT_TRUE(DecodeSnapshotBody(EncodeSnapshotBody(state), &back));
  ASSERT_EQ(back.sessions.size(), 2u);
  EXPECT_EQ(back.sessions.at(3).owner, OddOwner());
  EXPECT_TRUE(back.sessions.at(3).overflowed);
  EXPECT_EQ(back.sessions.at(4).owner, "");
  EXPECT_FALSE(back.sessions.at(4).overflowed);
}

// A snapshot as the previous release wrote it (format version 1, sessions
// without owners) is read by this one, its sessions with an empty owner.
TEST(ReviewInputWalTest, VersionOneSnapshotIsReadWithEmptyOwners) {
  test::TempDir dir;
  DurableState state;
  state.lsn = 3;
  state.max_events = 4;
  DurableSession s;
  s.id = 1;
  s.client_name = "old";
  s.ttl = absl::Hours(1);
  state.sessions.emplace(1, s);
  ASSERT_TRUE(WriteSnapshot(dir.path(), state, 3, true, 0).ok());
  const std::string path = SnapshotPath(dir.path(), 3);
  std::string file;
  {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    file = ss.str();
  }
  ASSERT_GT(file.size(), 12u);
  const char one[4] = {1, 0, 0, 0};  // Little-endian fixed32 version 1.
  std::memcpy(file.data() + 8, one, 4);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << file;
  }
  absl::StatusOr<Snapshot> snap = ReadSnapshot(path, 3);
  ASSERT_TRUE(snap.ok()) << snap.status();
  ASSERT_EQ(snap->state.sessions.size(), 1u);
  EXPECT_EQ(snap->state.sessions.at(1).owner, "");
  EXPECT_EQ(snap->state.sessions.at(1).client_name, "old");
}

// A snapshot of a later format is refused, not misread.
TEST(ReviewInputWalTest, SnapshotOfALaterVersionIsRefused) {
  test::TempDir dir;
  DurableState state;
  state.lsn = 3;
  ASSERT_TRUE(WriteSnapshot(dir.path(), state, 3, true, 0).ok());
  const std::string path = SnapshotPath(dir.path(), 3);
  std::string file;
  {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    file = ss.str();
  }
  file[8] = static_cast<char>(kSnapshotVersion + 1);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << file;
  }
  absl::StatusOr<Snapshot> snap = ReadSnapshot(path, 3);
  EXPECT_EQ(snap.status().code(), absl::StatusCode::kFailedPrecondition)
      << snap.status();
}

// Review finding (fixed; this test guards it): DumpWal prints a snapshot as counts only, so the owners (and every session) of a cleanly stopped daemon are invisible to --dump_wal.
TEST(ReviewInputWalTest, DumpPrintsTheOwnersOfTheSnapshotsSessions) {
  test::TempDir dir;
  ASSERT_TRUE(MakeDir(WalDir(dir.path())).ok());
  DurableState state;
  state.lsn = 3;
  state.max_events = 4;
  DurableSession s;
  s.id = 77;
  s.owner = "alice";
  s.client_name = "c";
  s.ttl = absl::Hours(1);
  state.sessions.emplace(77, s);
  ASSERT_TRUE(WriteSnapshot(dir.path(), state, 3, true, 0).ok());
  std::ostringstream out;
  ASSERT_TRUE(DumpWal(dir.path(), out).ok());
  EXPECT_THAT(out.str(), HasSubstr("owner=\"alice\"")) << out.str();
}

}  // namespace
}  // namespace taala::wal
