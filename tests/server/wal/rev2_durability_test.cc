// Review round 2 (rev2): failing tests for the refusal window after an
// unclean async/none stop. Each test states the claim it breaks.

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/wal/files.h"
#include "server/wal/recovery.h"
#include "server/wal/wal.h"
#include "tests/server/wal/wal_test_util.h"
#include "tests/testing/status_matchers.h"

namespace taala::wal {
namespace {

using test::AppendTo;
using test::GrantMade;
using test::OpenWal;
using test::Options;
using test::SessionCreated;
using test::TempDir;

// An async run (started with --max_session_ttl=1h) grants "k" to a client
// under a 30 min lease, then crashes (kill -9).
void CrashedAsyncRunWithALongLease(const TempDir& dir) {
  test::CrashedAsyncRunWithAGrant(dir, absl::Minutes(30), absl::Hours(1));
}

// Claim (recovery.h, operations.md): after an unclean async stop grants are
// refused until "every lease of the previous run has run out, so no old
// holder can still believe it holds a key". The window is capped by the
// *restarting* run's --max_session_ttl flag, not by what the crashed run
// granted: an operator who restarts with a lower --max_session_ttl (say
// 10 s, to get the service back sooner) makes the window 10 s while the
// crashed run's holder of "k" believes in its 30 min lease: two holders.
TEST(Rev2DurabilityTest, LowerMaxSessionTtlAtRestartDoesNotShortenRefusal) {
  TempDir dir;
  CrashedAsyncRunWithALongLease(dir);
  absl::StatusOr<Recovered> r =
      Recover(Options(dir, Durability::kAsync), absl::Seconds(10));
  ASSERT_OK(r);
  ASSERT_FALSE(r->restore_sessions);
  EXPECT_GE(r->refuse_grants_for, absl::Minutes(30))
      << "a lease of 30 min was granted by the crashed run, but grants are "
         "refused for only "
      << r->refuse_grants_for;
}

// Claim (operations.md: "grants are refused for a window: the longest
// session TTL granted in the previous run ... at most --max_session_ttl").
// The persisted end (grants_refused_until, wall-clock ms) is trusted
// without a bound: a clock set back a day between runs (or a window
// persisted while the clock was a day ahead, then NTP fixed it) refuses
// every grant for a day + 30 s, and Wal::Open writes that end back, so
// every later restart keeps it. Nothing bounds it by the TTLs that could
// have been granted.
TEST(Rev2DurabilityTest, ClockSetBackADayDoesNotRefuseGrantsForADay) {
  TempDir dir;
  {
    auto wal = OpenWal(Options(dir, Durability::kAsync), absl::Hours(1));
    ASSERT_NE(wal, nullptr);
    AppendTo(*wal, SessionCreated(7), nullptr);
    ASSERT_OK(wal->NoteSessionTtl(absl::Seconds(30)));
    wal->FlushForTest();
    wal->AbandonForTest();
  }
  // The recovering run persisted its 30 s window while the wall clock read
  // a day later than it does now.
  absl::StatusOr<Recovered> r =
      Recover(Options(dir, Durability::kAsync), absl::Hours(1));
  ASSERT_OK(r);
  ASSERT_EQ(r->refuse_grants_for, absl::Seconds(30));
  const absl::Time a_day_ahead = absl::Now() + absl::Hours(24);
  ASSERT_OK(WriteFileDurably(
      GrantsRefusedUntilPath(dir.path()),
      absl::StrCat(absl::ToUnixMillis(a_day_ahead + absl::Seconds(30)), "\n")));
  absl::StatusOr<Recovered> r2 =
      Recover(Options(dir, Durability::kAsync), absl::Hours(1));
  ASSERT_OK(r2);
  EXPECT_LE(r2->refuse_grants_for, absl::Hours(1))
      << "no lease longer than --max_session_ttl (1h) or the persisted "
         "max_session_ttl (30 s) can exist, but grants are refused for "
      << r2->refuse_grants_for;
}

// Claim (operations.md: the window is "the longest session TTL granted in
// the previous run"). max_session_ttl only ever rises, across runs and
// clean stops: one CreateSession with ttl_ms near --max_session_ttl (a
// hostile or mistaken client, its session closed at once) in any earlier
// run makes every later unclean async/none stop refuse every grant for
// that long (1 h by default), though the crashed run only granted 10 s
// leases.
TEST(Rev2DurabilityTest, OneLongSessionInAnEarlierRunStretchesEveryLaterWindow) {
  TempDir dir;
  {
    // Run 1: a client asks for a 1 h lease (and closes it); clean stop.
    auto wal = OpenWal(Options(dir, Durability::kAsync), absl::Hours(1));
    ASSERT_NE(wal, nullptr);
    ASSERT_OK(wal->NoteSessionTtl(absl::Hours(1)));
    ASSERT_OK(wal->Close(nullptr));
  }
  {
    // Run 2: only 10 s leases; crash.
    auto wal = OpenWal(Options(dir, Durability::kAsync), absl::Hours(1));
    ASSERT_NE(wal, nullptr);
    AppendTo(*wal, SessionCreated(100), nullptr);  // TTL 10 s.
    AppendTo(*wal, GrantMade("k", 100), nullptr);
    ASSERT_OK(wal->NoteSessionTtl(absl::Seconds(10)));
    wal->FlushForTest();
    wal->AbandonForTest();
  }
  absl::StatusOr<Recovered> r =
      Recover(Options(dir, Durability::kAsync), absl::Hours(1));
  ASSERT_OK(r);
  ASSERT_FALSE(r->restore_sessions);
  EXPECT_LE(r->refuse_grants_for, absl::Seconds(10))
      << "the crashed run granted only 10 s leases, but grants are refused "
         "for "
      << r->refuse_grants_for;
}

}  // namespace
}  // namespace taala::wal
