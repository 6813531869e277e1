// Session ownership, random session ids and the lock table's limits
// (issue 12): the core's side (server/core/table_limits.h,
// owner_registry.h, LockTable::CheckSessionOwner), and the owner's way
// through the log, DurableState and snapshots.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "server/core/multi_acquire.h"
#include "server/wal/record_codec.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace test {
namespace {

using ::testing::HasSubstr;

class OwnershipTest : public ::testing::Test {
 protected:
  static LockTable::Options Options(TransitionLog* log = nullptr) {
    LockTable::Options options;
    options.shards = 4;
    options.log = log;
    return options;
  }

  void TearDown() override { table_.CheckInvariantsForTest(); }

  absl::StatusOr<SessionInfo> Create(LockTable& table,
                                     const std::string& owner,
                                     absl::Duration ttl = kTtl) {
    CreateSessionCmd cmd;
    cmd.session_id = table.NewSessionId();
    cmd.owner = owner;
    cmd.client_name = "c";
    cmd.ttl = ttl;
    cmd.now = clock_.Now();
    return table.CreateSession(cmd);
  }
  uint64_t MustCreate(LockTable& table, const std::string& owner,
                      absl::Duration ttl = kTtl) {
    absl::StatusOr<SessionInfo> info = Create(table, owner, ttl);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->session_id : 0;
  }
  AcquireCmd Cmd(uint64_t session, const std::string& key,
                 absl::Duration wait = absl::ZeroDuration()) {
    AcquireCmd cmd;
    cmd.session_id = session;
    cmd.key = key;
    cmd.wait_timeout = wait;
    cmd.now = clock_.Now();
    return cmd;
  }

  FakeClock clock_;
  LockTable table_{Options()};
};

TEST_F(OwnershipTest, ForeignOwnerIsNotFoundExactlyLikeAnUnknownSession) {
  const uint64_t a = MustCreate(table_, "alice");
  EXPECT_OK(table_.CheckSessionOwner(a, "alice", false));
  const absl::Status foreign = table_.CheckSessionOwner(a, "bob", false);
  EXPECT_EQ(foreign.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(foreign.message(), table_internal::SessionNotFound(a));
  // An anonymous caller gets no more than bob.
  EXPECT_EQ(table_.CheckSessionOwner(a, "anonymous@127.0.0.1", true),
            foreign);
  // The same words as for a session that never existed or has ended.
  uint64_t unknown = table_.NewSessionId();
  EXPECT_EQ(table_.CheckSessionOwner(unknown, "bob", false).message(),
            table_internal::SessionNotFound(unknown));
  ASSERT_OK(table_.CloseSession(CloseSessionCmd{a, clock_.Now()}).status());
  EXPECT_EQ(table_.CheckSessionOwner(a, "alice", false), foreign);
}

TEST_F(OwnershipTest, OwnerIsReportedByCreateAndListSessions) {
  absl::StatusOr<SessionInfo> info = Create(table_, "carol");
  ASSERT_OK(info.status());
  EXPECT_EQ(info->owner, "carol");
  SessionPage page = table_.ListSessions(0, 10);
  ASSERT_EQ(page.sessions.size(), 1u);
  EXPECT_EQ(page.sessions[0].owner, "carol");
}

TEST_F(OwnershipTest, SessionWithoutOwnerBelongsToAnyAnonymousIdentity) {
  const uint64_t legacy = MustCreate(table_, "");
  EXPECT_OK(table_.CheckSessionOwner(legacy, "anonymous@127.0.0.1", true));
  EXPECT_OK(table_.CheckSessionOwner(legacy, "anonymous@10.0.0.7", true));
  // Anonymity is the caller's mark, not its name: a credential that
  // claimed such a name (refused elsewhere) would still own nothing here.
  EXPECT_EQ(table_.CheckSessionOwner(legacy, "anonymous@127.0.0.1", false)
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(table_.CheckSessionOwner(legacy, "alice", false).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(table_.CheckSessionOwner(legacy, "", false).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(OwnershipTest, OwnerSurvivesReplayOfTheLogAndARestore) {
  MemoryLog log;
  DurableState replayed;
  log.set_tap([&](const Transition& t) {
    // Through the WAL's encoding, as recovery reads it.
    std::string bytes;
    wal::EncodeTransition(t, &bytes);
    Transition decoded;
    ASSERT_TRUE(wal::DecodeTransition(bytes, &decoded));
    EXPECT_EQ(decoded.owner, t.owner);
    ASSERT_TRUE(replayed.Apply(decoded));
  });
  LockTable table(Options(&log));
  const uint64_t a = MustCreate(table, "alice \"x\"\n");
  const uint64_t b = MustCreate(table, "");
  ASSERT_TRUE(table.Acquire(Cmd(a, "k"), nullptr).has_value());
  DurableState exported = table.ExportState();
  EXPECT_EQ(replayed.Diff(exported), "");
  EXPECT_EQ(replayed.sessions.at(a).owner, "alice \"x\"\n");
  EXPECT_EQ(replayed.sessions.at(b).owner, "");

  // Through a snapshot's body.
  DurableState from_snapshot;
  ASSERT_TRUE(wal::DecodeSnapshotBody(wal::EncodeSnapshotBody(exported),
                                      &from_snapshot));
  EXPECT_EQ(from_snapshot.sessions.at(a).owner, "alice \"x\"\n");
  EXPECT_TRUE(from_snapshot == exported);
  table.Shutdown();

  MemoryLog log2(log.LastLsn() + 1);
  LockTable restored(Options(&log2));
  restored.Restore(from_snapshot, clock_.Now(), absl::Seconds(5), true);
  restored.CheckInvariantsForTest();
  EXPECT_OK(restored.CheckSessionOwner(a, "alice \"x\"\n", false));
  EXPECT_EQ(restored.CheckSessionOwner(a, "bob", false).code(),
            absl::StatusCode::kNotFound);
  EXPECT_OK(restored.CheckSessionOwner(b, "anonymous@127.0.0.1", true));
  EXPECT_EQ(restored.OwnerCountsForTest("alice \"x\"\n").held, 1);
  EXPECT_EQ(restored.OwnerCountsForTest("alice \"x\"\n").sessions, 1);
  restored.Shutdown();
}

TEST(OwnershipCodecTest, OwnerIsPrintedEscapedInTheDump) {
  Transition t;
  t.type = TransitionType::kSessionCreated;
  t.session_id = 7;
  t.owner = "eve\"\n";
  EXPECT_THAT(TransitionToString(t), HasSubstr("owner=\"eve\\\"\\n\""));
}

TEST(OwnershipCodecTest, RecordsWithoutAnOwnerDecodeWithAnEmptyOne) {
  Transition t;  // A record as written before issue 12: no owner field.
  t.type = TransitionType::kSessionCreated;
  t.lsn = 3;
  t.session_id = 9;
  t.client_name = "old";
  std::string bytes;
  wal::EncodeTransition(t, &bytes);
  Transition decoded;
  ASSERT_TRUE(wal::DecodeTransition(bytes, &decoded));
  EXPECT_EQ(decoded.owner, "");
  EXPECT_TRUE(decoded == t);
}

TEST(OwnershipCodecTest, VersionOneSnapshotBodiesStillRead) {
  // A version-1 body (flags 0 or 1, no owner) byte for byte: lsn 4,
  // max_events 8, one session (id 2, client "c", no labels, ttl, flags 1,
  // no events), no keys.
  DurableState state;
  state.lsn = 4;
  state.max_events = 8;
  DurableSession s;
  s.id = 2;
  s.client_name = "c";
  s.ttl = absl::Seconds(3);
  s.overflowed = true;
  state.sessions.emplace(2, s);
  // With no owner the encoding is exactly version 1's.
  const std::string body = wal::EncodeSnapshotBody(state);
  DurableState decoded;
  ASSERT_TRUE(wal::DecodeSnapshotBody(body, &decoded));
  EXPECT_EQ(decoded.sessions.at(2).owner, "");
  EXPECT_TRUE(decoded.sessions.at(2).overflowed);
  // An owner adds flag 2 and the string.
  state.sessions.at(2).owner = "alice";
  ASSERT_TRUE(wal::DecodeSnapshotBody(wal::EncodeSnapshotBody(state),
                                      &decoded));
  EXPECT_EQ(decoded.sessions.at(2).owner, "alice");
  EXPECT_TRUE(decoded.sessions.at(2).overflowed);
}

TEST(SessionIdTest, IdsAreRandomNonZeroBelow2To63AndDistinct) {
  LockTable table(LockTable::Options{});
  absl::flat_hash_set<uint64_t> seen;
  std::vector<uint64_t> ids;
  for (int i = 0; i < 100000; ++i) {
    const uint64_t id = table.NewSessionId();
    ASSERT_NE(id, 0u);
    ASSERT_LT(id, uint64_t{1} << 63);
    ASSERT_TRUE(seen.insert(id).second) << "id " << id << " repeated";
    ids.push_back(id);
  }
  // Not a sequence: consecutive ids are far apart and unordered.
  int adjacent = 0, ascending = 0;
  for (size_t i = 1; i < ids.size(); ++i) {
    const uint64_t d = ids[i] > ids[i - 1] ? ids[i] - ids[i - 1]
                                           : ids[i - 1] - ids[i];
    if (d < 1000000) ++adjacent;
    if (ids[i] > ids[i - 1]) ++ascending;
  }
  EXPECT_EQ(adjacent, 0);
  EXPECT_GT(ascending, 40000);
  EXPECT_LT(ascending, 60000);
  // High bits are used: not small numbers.
  int high = 0;
  for (uint64_t id : ids) high += id >= (uint64_t{1} << 62);
  EXPECT_GT(high, 40000);
}

// --- Limits ---

class LimitsTest : public OwnershipTest {
 protected:
  static LockTable::Options Limited() {
    LockTable::Options options = Options();
    options.limits.max_sessions_per_identity = 2;
    options.limits.max_held_per_identity = 3;
    options.limits.max_waiters_per_identity = 2;
    options.limits.max_waiters_per_key = 1;
    options.limits.max_held_per_session = 2;
    options.limits.max_waiters_per_session = 1;
    options.limits.max_keys = 6;
    return options;
  }
  void TearDown() override { limited_.CheckInvariantsForTest(); }

  std::optional<absl::StatusOr<AcquireResult>> Acquire(
      uint64_t s, const std::string& key, RecordingWaiter* w = nullptr) {
    return limited_.Acquire(
        Cmd(s, key, w != nullptr ? absl::InfiniteDuration()
                                 : absl::ZeroDuration()),
        w);
  }
  void MustHold(uint64_t s, const std::string& key) {
    auto r = Acquire(s, key);
    ASSERT_TRUE(r.has_value());
    ASSERT_OK(r->status());
    ASSERT_TRUE((*r)->acquired) << key;
  }
  static void ExpectLimit(
      const std::optional<absl::StatusOr<AcquireResult>>& r,
      const std::string& flag) {
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(r->status().message(), HasSubstr("limit --" + flag + "="));
  }
  void ExpectZero(const std::string& owner) {
    const OwnerCounts c = limited_.OwnerCountsForTest(owner);
    EXPECT_EQ(c.sessions, 0);
    EXPECT_EQ(c.held, 0);
    EXPECT_EQ(c.waiting, 0);
  }

  LockTable limited_{Limited()};
};

TEST_F(LimitsTest, SessionsPerIdentity) {
  const uint64_t a1 = MustCreate(limited_, "alice");
  MustCreate(limited_, "alice");
  absl::StatusOr<SessionInfo> third = Create(limited_, "alice");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(),
              HasSubstr("limit --max_sessions_per_identity=2 reached"));
  EXPECT_EQ(limited_.SessionCount(), 2u);
  MustCreate(limited_, "bob");  // Another identity is unaffected.
  ASSERT_OK(limited_.CloseSession(CloseSessionCmd{a1, clock_.Now()}).status());
  MustCreate(limited_, "alice");  // Room again.
}

TEST_F(LimitsTest, HeldPerSessionAndPerIdentity) {
  const uint64_t a1 = MustCreate(limited_, "alice");
  const uint64_t a2 = MustCreate(limited_, "alice");
  MustHold(a1, "k1");
  MustHold(a1, "k2");
  ExpectLimit(Acquire(a1, "k3"), "max_held_per_session");
  MustHold(a1, "k1");  // A holder's retry is never refused.
  MustHold(a2, "k3");  // Another session of alice: 3 grants in all.
  ExpectLimit(Acquire(a2, "k4"), "max_held_per_identity");
  EXPECT_EQ(limited_.OwnerCountsForTest("alice").held, 3);
  const uint64_t b = MustCreate(limited_, "bob");
  MustHold(b, "k4");  // Another identity is unaffected.
  // A refusal changes nothing: the key was never created.
  EXPECT_EQ(limited_.KeyCount(), 4u);
}

TEST_F(LimitsTest, WaitersPerKeySessionAndIdentity) {
  const uint64_t h = MustCreate(limited_, "holder");
  MustHold(h, "x");
  MustHold(h, "y");
  const uint64_t a1 = MustCreate(limited_, "alice");
  const uint64_t a2 = MustCreate(limited_, "alice");
  const uint64_t b = MustCreate(limited_, "bob");
  RecordingWaiter w1, w2, w3, w4;
  EXPECT_FALSE(Acquire(a1, "x", &w1).has_value());  // Queued.
  ExpectLimit(Acquire(b, "x", &w2), "max_waiters_per_key");
  EXPECT_FALSE(w2.done());
  ExpectLimit(Acquire(a1, "y", &w2), "max_waiters_per_session");
  EXPECT_FALSE(Acquire(a2, "y", &w3).has_value());  // alice: 2 waits.
  // A try-lock waits for nothing: answered "not acquired", as always.
  auto tried = Acquire(b, "x");
  ASSERT_TRUE(tried.has_value() && tried->ok());
  EXPECT_FALSE((*tried)->acquired);
  EXPECT_EQ(limited_.OwnerCountsForTest("alice").waiting, 2);
  const uint64_t h2 = MustCreate(limited_, "holder");
  MustHold(h2, "z");
  ASSERT_OK(limited_.CloseSession(CloseSessionCmd{a2, clock_.Now()}).status());
  // a2's wait ended: y has room, alice has one wait.
  const uint64_t a4 = MustCreate(limited_, "alice");
  EXPECT_FALSE(Acquire(a4, "z", &w4).has_value());
  RecordingWaiter w5;
  ExpectLimit(Acquire(b, "z", &w5), "max_waiters_per_key");
  // A retry of a queued wait takes over its place: never refused.
  RecordingWaiter w6;
  EXPECT_FALSE(Acquire(a1, "x", &w6).has_value());
  EXPECT_TRUE(w1.done());  // Superseded.
  // The waits are served as ever.
  ASSERT_OK(limited_.CloseSession(CloseSessionCmd{h, clock_.Now()}).status());
  EXPECT_TRUE(w6.granted());
}

TEST_F(LimitsTest, IdentityWaitLimitCountsAcrossSessions) {
  const uint64_t h = MustCreate(limited_, "holder");
  MustHold(h, "p");
  MustHold(h, "q");
  const uint64_t h2 = MustCreate(limited_, "holder2");
  MustHold(h2, "r");
  const uint64_t a1 = MustCreate(limited_, "alice");
  const uint64_t a2 = MustCreate(limited_, "alice");
  RecordingWaiter w1, w2, w3;
  EXPECT_FALSE(Acquire(a1, "p", &w1).has_value());
  EXPECT_FALSE(Acquire(a2, "q", &w2).has_value());
  EXPECT_EQ(limited_.OwnerCountsForTest("alice").waiting, 2);
  EXPECT_EQ(limited_.OwnerCountsForTest("alice").sessions, 2);
  ExpectLimit(Acquire(a1, "r", &w3), "max_waiters_per_session");
  const uint64_t b = MustCreate(limited_, "bob");
  EXPECT_FALSE(Acquire(b, "r", &w3).has_value());  // bob is unaffected.
  ASSERT_OK(limited_.CloseSession(CloseSessionCmd{a1, clock_.Now()}).status());
  ASSERT_OK(limited_.CloseSession(CloseSessionCmd{a2, clock_.Now()}).status());
  ExpectZero("alice");
}

TEST_F(LimitsTest, IdentityWaitLimitIsNamed) {
  LockTable::Options options = Limited();
  options.limits.max_waiters_per_session = 5;
  options.limits.max_held_per_session = 5;
  options.limits.max_held_per_identity = 5;
  LockTable table(options);
  auto create = [&](const std::string& owner) {
    CreateSessionCmd cmd{table.NewSessionId(), "c", {}, kTtl, clock_.Now(),
                         owner};
    EXPECT_OK(table.CreateSession(cmd).status());
    return cmd.session_id;
  };
  const uint64_t h = create("holder");
  for (const char* k : {"a", "b", "c"}) {
    ASSERT_TRUE(table.Acquire(Cmd(h, k), nullptr).has_value());
  }
  const uint64_t a = create("alice");
  RecordingWaiter w1, w2, w3;
  EXPECT_FALSE(table.Acquire(Cmd(a, "a", absl::InfiniteDuration()), &w1)
                   .has_value());
  EXPECT_FALSE(table.Acquire(Cmd(a, "b", absl::InfiniteDuration()), &w2)
                   .has_value());
  ExpectLimit(table.Acquire(Cmd(a, "c", absl::InfiniteDuration()), &w3),
              "max_waiters_per_identity");
  table.CheckInvariantsForTest();
  table.Shutdown();
}

TEST_F(LimitsTest, KeysInTheTable) {
  const uint64_t a = MustCreate(limited_, "alice");
  const uint64_t b = MustCreate(limited_, "bob");
  const uint64_t c = MustCreate(limited_, "carol");
  for (const char* k : {"k1", "k2"}) MustHold(a, k);
  for (const char* k : {"k3", "k4"}) MustHold(b, k);
  for (const char* k : {"k5", "k6"}) MustHold(c, k);
  const uint64_t d = MustCreate(limited_, "dave");
  ExpectLimit(Acquire(d, "k7"), "max_keys");
  // Keys in use are served: a wait on one is no new key.
  RecordingWaiter w;
  EXPECT_FALSE(Acquire(d, "k1", &w).has_value());
  ASSERT_OK(limited_.CloseSession(CloseSessionCmd{b, clock_.Now()}).status());
  MustHold(d, "k7");
  // a's close hands k1 to d's wait.
  ASSERT_OK(limited_.CloseSession(CloseSessionCmd{a, clock_.Now()}).status());
  EXPECT_TRUE(w.granted());
}

TEST_F(LimitsTest, CountersReturnToZeroAfterExpiryRevokeAndRestore) {
  const uint64_t h = MustCreate(limited_, "holder");
  MustHold(h, "x");
  const uint64_t a = MustCreate(limited_, "alice", absl::Seconds(2));
  MustHold(a, "a1");
  RecordingWaiter w;
  EXPECT_FALSE(Acquire(a, "x", &w).has_value());
  EXPECT_EQ(limited_.OwnerCountsForTest("alice").held, 1);
  EXPECT_EQ(limited_.OwnerCountsForTest("alice").waiting, 1);
  clock_.Advance(absl::Seconds(3));
  limited_.RunDueTimers(clock_.Now());  // a expires.
  ExpectZero("alice");

  const uint64_t b = MustCreate(limited_, "bob");
  MustHold(b, "b1");
  ASSERT_OK(limited_
                .RevokeSession(RevokeSessionCmd{b, "test", "ops", false,
                                                clock_.Now()})
                .status());
  ExpectZero("bob");

  const uint64_t c = MustCreate(limited_, "carol");
  MustHold(c, "c1");
  MustHold(c, "c2");
  DurableState state = limited_.ExportState();
  MemoryLog log2(limited_.log().LastLsn() + 1);
  LockTable::Options options = Limited();
  options.log = &log2;
  LockTable restored(options);
  restored.Restore(state, clock_.Now(), absl::Seconds(1), true);
  restored.CheckInvariantsForTest();
  EXPECT_EQ(restored.OwnerCountsForTest("carol").held, 2);
  EXPECT_EQ(restored.OwnerCountsForTest("carol").sessions, 1);
  // The restored counts are enforced.
  AcquireCmd third = Cmd(c, "c3");
  auto r = restored.Acquire(third, nullptr);
  ExpectLimit(r, "max_held_per_session");
  ASSERT_OK(restored.CloseSession(CloseSessionCmd{c, clock_.Now()}).status());
  EXPECT_EQ(restored.OwnerCountsForTest("carol").sessions, 0);
  EXPECT_EQ(restored.OwnerCountsForTest("carol").held, 0);
  restored.CheckInvariantsForTest();
  restored.Shutdown();
}

TEST_F(LimitsTest, MemoryBudgetRefusesNewSessionsAndWaitsOnly) {
  const uint64_t a = MustCreate(limited_, "alice");
  const uint64_t b = MustCreate(limited_, "bob");
  MustHold(a, "held");
  const std::string why = "limit --memory_budget=12GiB reached: RSS 12.3GiB";
  limited_.SetOverMemoryBudget(true, why);
  absl::StatusOr<SessionInfo> refused = Create(limited_, "carol");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.status().message(), why);
  RecordingWaiter w;
  auto wait = Acquire(b, "held", &w);
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(wait->status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(wait->status().message(), why);
  EXPECT_FALSE(w.done());
  // Served: grants without a wait, holders' retries, keepalives, releases.
  MustHold(b, "free");
  MustHold(a, "held");
  EXPECT_OK(limited_.KeepAlive(KeepAliveCmd{a, clock_.Now()}).status());
  auto held = Acquire(a, "held");
  ASSERT_OK(limited_.Release(
      ReleaseCmd{a, "held", (*held)->grant.token, clock_.Now()}));
  limited_.SetOverMemoryBudget(false, "");
  MustCreate(limited_, "carol");
  MustHold(a, "held");
  EXPECT_FALSE(Acquire(b, "held", &w).has_value());  // Waits again.
  ASSERT_OK(limited_.CloseSession(CloseSessionCmd{a, clock_.Now()}).status());
  EXPECT_TRUE(w.granted());
}


class MultiListener final : public MultiAcquireListener {
 public:
  void OnMultiAcquireDone(absl::StatusOr<MultiAcquireResult> r) override {
    result = std::move(r);
  }
  std::optional<absl::StatusOr<MultiAcquireResult>> result;
};

TEST_F(LimitsTest, AcquireAllObeysTheLimitsAndTakesNothing) {
  const uint64_t h = MustCreate(limited_, "holder");
  const uint64_t w = MustCreate(limited_, "waiter");
  MustHold(h, "busy");
  RecordingWaiter queued;
  EXPECT_FALSE(Acquire(w, "busy", &queued).has_value());  // busy is full.
  const uint64_t a = MustCreate(limited_, "alice");
  // "afree" is taken, then the wait on "busy" is refused: rolled back.
  MultiAcquireCmd cmd;
  cmd.session_id = a;
  cmd.keys = {{"busy"}, {"afree"}};  // Taken in path order: afree first.
  MultiListener listener;
  MultiAcquire multi(&limited_, &clock_, cmd, &listener);
  multi.Start();
  ASSERT_TRUE(listener.result.has_value());
  EXPECT_EQ(listener.result->status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(listener.result->status().message(),
              HasSubstr("limit --max_waiters_per_key=1 reached"));
  EXPECT_EQ(limited_.OwnerCountsForTest("alice").held, 0);
  EXPECT_EQ(limited_.OwnerCountsForTest("alice").waiting, 0);
  // Past the session's grants: refused before anything is held.
  MultiAcquireCmd three;
  three.session_id = a;
  three.keys = {{"f1"}, {"f2"}, {"f3"}};
  MultiListener l3;
  MultiAcquire m3(&limited_, &clock_, three, &l3);
  m3.Start();
  ASSERT_TRUE(l3.result.has_value());
  EXPECT_THAT(l3.result->status().message(),
              HasSubstr("limit --max_held_per_session=2 reached"));
  EXPECT_EQ(limited_.OwnerCountsForTest("alice").held, 0);
}

}  // namespace
}  // namespace test
}  // namespace taala
