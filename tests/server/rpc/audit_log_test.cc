// The audit log: escaped fields, at most 10 lines per second per identity
// with a count of the suppressed ones, bounded entries. Lines go to a
// capturing sink, time is injected.

#include "server/rpc/audit_log.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taala {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class AuditLogTest : public ::testing::Test {
 protected:
  AuditLogTest()
      : log_([this](const std::string& line) { lines_.push_back(line); },
             [this] { return now_; }) {}

  auth::Identity Who(const std::string& name) {
    auth::Identity id;
    id.name = name;
    return id;
  }

  absl::Time now_ = absl::FromUnixSeconds(1000000);
  std::vector<std::string> lines_;
  AuditLog log_;
};

TEST_F(AuditLogTest, RefusedLineNamesIdentityCallKeyAndReason) {
  log_.Refused(Who("alice"), "Acquire", "jobs/1",
               absl::PermissionDeniedError("no lock on jobs/"));
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0],
            "audit: refused call=Acquire identity=\"alice\" key=\"jobs/1\" "
            "code=PERMISSION_DENIED reason=\"no lock on jobs/\"");
  log_.AdminAction(Who("root"), "ForceRelease", "jobs/1", "released 1 grant");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[1],
            "audit: admin call=ForceRelease identity=\"root\" key=\"jobs/1\" "
            "action=\"released 1 grant\"");
}

TEST_F(AuditLogTest, HostileFieldsCannotForgeALine) {
  const std::string forged =
      "x\" code=OK reason=\"fine\"\n2026-01-01 [warning] audit: admin "
      "call=ForceRelease identity=\"root\"\r\x1b[2K\xc2\x85\xe2\x80\xae";
  log_.Refused(Who(forged), "Acquire", forged,
               absl::InvalidArgumentError(forged));
  ASSERT_EQ(lines_.size(), 1u);
  const std::string& line = lines_[0];
  for (char c : line) {
    const auto b = static_cast<unsigned char>(c);
    EXPECT_TRUE(b >= 0x20 && b < 0x7f) << "byte " << int{b} << " in " << line;
  }
  // Every quote a client wrote is escaped: the fields close where we say.
  EXPECT_THAT(line, HasSubstr("key=\"x\\\" code=OK reason=\\\"fine\\\"\\x0a"));
  EXPECT_THAT(line, HasSubstr("\\xc2\\x85\\xe2\\x80\\xae"));
  EXPECT_THAT(line, Not(HasSubstr("\n")));
  EXPECT_EQ(AuditEscape("a\\b"), "a\\\\b");
}

TEST_F(AuditLogTest, TenLinesPerSecondPerIdentityThenACount) {
  for (int i = 0; i < 25; ++i) {
    log_.Refused(Who("flooder"), "Acquire", absl::StrCat("k", i),
                 absl::ResourceExhaustedError("limit"));
  }
  ASSERT_EQ(lines_.size(), 10u);
  // Another identity is not held back by the flooder.
  log_.Refused(Who("bob"), "Acquire", "b", absl::NotFoundError("x"));
  ASSERT_EQ(lines_.size(), 11u);
  EXPECT_THAT(lines_[10], HasSubstr("identity=\"bob\""));
  EXPECT_THAT(lines_[10], Not(HasSubstr("suppressed")));
  // A second later the flooder's next line says how many were dropped.
  now_ += absl::Milliseconds(999);
  log_.Refused(Who("flooder"), "Acquire", "late",
               absl::ResourceExhaustedError("limit"));
  ASSERT_EQ(lines_.size(), 11u);
  now_ += absl::Milliseconds(1);
  log_.Refused(Who("flooder"), "Acquire", "next",
               absl::ResourceExhaustedError("limit"));
  ASSERT_EQ(lines_.size(), 12u);
  EXPECT_THAT(lines_[11], HasSubstr("key=\"next\""));
  EXPECT_THAT(lines_[11],
              HasSubstr("(16 earlier audit lines of this identity suppressed)"));
}

TEST_F(AuditLogTest, SuppressedCountOfAQuietIdentityIsSummarized) {
  for (int i = 0; i < 13; ++i) {
    log_.Refused(Who("gone"), "Acquire", "k", absl::NotFoundError("x"));
  }
  ASSERT_EQ(lines_.size(), 10u);
  // "gone" says nothing more; later calls of others sweep every shard that
  // they land in, so call from many identities.
  now_ += absl::Seconds(2);
  for (int i = 0; i < 200; ++i) {
    log_.Refused(Who(absl::StrCat("other-", i)), "Acquire", "k",
                 absl::NotFoundError("x"));
  }
  int summaries = 0;
  for (const std::string& line : lines_) {
    if (absl::StrContains(line, "identity=\"gone\" 3 audit lines suppressed")) {
      ++summaries;
    }
  }
  EXPECT_EQ(summaries, 1);
}

TEST_F(AuditLogTest, EntriesOfIdleIdentitiesAreDropped) {
  for (int i = 0; i < 20000; ++i) {
    log_.Refused(Who(absl::StrCat("id-", i)), "Acquire", "k",
                 absl::NotFoundError("x"));
  }
  EXPECT_EQ(log_.EntryCount(), 20000u);
  now_ += absl::Seconds(2);
  for (int i = 0; i < 200; ++i) {
    log_.Refused(Who(absl::StrCat("later-", i)), "Acquire", "k",
                 absl::NotFoundError("x"));
  }
  EXPECT_LE(log_.EntryCount(), 200u);
}

}  // namespace
}  // namespace taala
