// Several taala::Lock objects on one key in one Session (issue 8, item 2):
// they exclude each other as locks of different processes would, except
// that SHARED locks share the session's one SHARED grant. Against a real
// taalad.

#include <signal.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <new>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/lock_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/client_fixture.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::StatusIs;

class LockSharingTest : public test::ClientFixture {};

// kill(SIGSTOP) returns before the process has stopped: wait until
// /proc/<pid>/stat says it has ("T").
bool WaitUntilStopped(pid_t pid) {
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (absl::Now() < give_up) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const size_t paren = line.rfind(')');
    if (paren != std::string::npos && paren + 2 < line.size() &&
        line[paren + 2] == 'T') {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

AcquireOptions Shared() {
  AcquireOptions options;
  options.shared = true;
  return options;
}

TEST_F(LockSharingTest, TwoLocksOnOneKeyInOneSessionExcludeEachOther) {
  auto client = Connect(Options());
  auto session = NewSession(*client, absl::Seconds(60));
  Lock a(*session, "k");
  Lock b(*session, "k");
  ASSERT_TRUE(a.try_lock());
  EXPECT_FALSE(b.try_lock());
  EXPECT_FALSE(b.try_lock_for(std::chrono::milliseconds(200)));
  EXPECT_FALSE(b.owns_lock());

  // lock() waits in the process until `a` unlocks.
  std::atomic<bool> a_unlocking{false};
  std::atomic<bool> b_saw_a_unlocking{false};
  std::thread waiter([&] {
    b.lock();
    b_saw_a_unlocking = a_unlocking.load();
  });
  absl::SleepFor(absl::Milliseconds(300));  // A chance to get in wrongly.
  a_unlocking = true;
  a.unlock();
  EXPECT_OK(a.last_unlock_status());
  waiter.join();
  EXPECT_TRUE(b_saw_a_unlocking.load());
  EXPECT_TRUE(b.owns_lock());
  EXPECT_GT(b.fencing_token(), 0u);
  // `a` released its grant; `b` holds one of its own.
  EXPECT_TRUE(HeldByAnother(*client, "k"));
  b.unlock();
  EXPECT_OK(b.last_unlock_status());
  EXPECT_FALSE(HeldByAnother(*client, "k"));
}

TEST_F(LockSharingTest, SharedLocksInOneSessionShareOneGrantUntilTheLastUnlocks) {
  auto client = Connect(Options());
  auto session = NewSession(*client, absl::Seconds(60));
  Lock r1(*session, "doc", Shared());
  Lock r2(*session, "doc", Shared());
  Lock w(*session, "doc");
  ASSERT_TRUE(r1.try_lock());
  ASSERT_TRUE(r2.try_lock());
  EXPECT_EQ(r1.fencing_token(), r2.fencing_token());  // One grant.
  // An EXCLUSIVE Lock of the same session is kept out (not an upgrade).
  EXPECT_FALSE(w.try_lock());
  r1.unlock();
  EXPECT_OK(r1.last_unlock_status());
  EXPECT_TRUE(r2.owns_lock());
  EXPECT_TRUE(HeldByAnother(*client, "doc"));  // r2 still reads.
  EXPECT_FALSE(w.try_lock());
  r2.unlock();
  EXPECT_OK(r2.last_unlock_status());
  EXPECT_FALSE(HeldByAnother(*client, "doc"));
  ASSERT_TRUE(w.try_lock());
  w.unlock();
}

TEST_F(LockSharingTest, SemaphoreLocksInOneSessionTakeOneSlotAtATime) {
  auto client = Connect(Options());
  auto session = NewSession(*client, absl::Seconds(60));
  AcquireOptions pool;
  pool.semaphore_size = 2;
  Lock p1(*session, "pool", pool);
  Lock p2(*session, "pool", pool);
  ASSERT_TRUE(p1.try_lock());
  // The server counts one slot per session: p2 cannot have one of its own.
  EXPECT_FALSE(p2.try_lock());
  p1.unlock();
  ASSERT_TRUE(p2.try_lock());
  p2.unlock();
}

TEST_F(LockSharingTest, AlreadyHeldByTheSessionOutsideAnyLockIsAnError) {
  auto client = Connect(Options());
  auto session = NewSession(*client, absl::Seconds(60));
  auto raw = session->Acquire("raw", {absl::ZeroDuration()});
  ASSERT_TRUE(raw.ok() && raw->has_value()) << raw.status();
  Lock lock(*session, "raw");
  // The server answers already_held=true: never a second ownership.
  EXPECT_THAT(lock.Acquire(absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_FALSE(lock.owns_lock());
  ASSERT_OK(session->Release(**raw));
  EXPECT_OK(lock.Acquire(absl::ZeroDuration()));
}

TEST_F(LockSharingTest, RevocationFreesTheKeyForAWaitingLockOfTheSession) {
  auto client = Connect(Options());
  auto session = NewSession(*client, absl::Seconds(60));
  AcquireOptions short_hold;
  short_hold.max_hold = absl::Milliseconds(300);
  Lock a(*session, "k", short_hold);
  Lock b(*session, "k");
  ASSERT_TRUE(a.try_lock());
  // As for another process: the revoked grant no longer keeps `b` out.
  EXPECT_TRUE(b.try_lock_for(std::chrono::seconds(30)));
  EXPECT_FALSE(a.owns_lock());
  EXPECT_TRUE(b.owns_lock());
  a.unlock();  // Tells the server about a's revoked grant, not b's.
  EXPECT_THAT(a.last_unlock_status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(HeldByAnother(*client, "k"));
  b.unlock();
  EXPECT_OK(b.last_unlock_status());
}

TEST_F(LockSharingTest, DestroyingTheSessionEndsLocksWaitingForIt) {
  auto client = Connect(Options());
  auto session = NewSession(*client, absl::Seconds(60));
  auto other = NewSession(*client, absl::Seconds(60));
  Lock elsewhere(*other, "remote");
  ASSERT_TRUE(elsewhere.try_lock());
  // `holder` would touch the destroyed session in its destructor (the
  // lifetime rule is broken on purpose here): it is never destroyed.
  alignas(Lock) unsigned char storage[sizeof(Lock)];
  Lock* holder = new (storage) Lock(*session, "local");
  ASSERT_TRUE(holder->try_lock());
  Lock in_process(*session, "local");   // Waits in the process.
  Lock on_server(*session, "remote");   // Waits on the server.
  std::atomic<int> not_found{0};
  std::atomic<int> started{0};
  auto wait = [&](Lock& lock) {
    ++started;
    try {
      lock.lock();
    } catch (const LockError& e) {
      if (absl::IsNotFound(e.status())) ++not_found;
    }
  };
  std::thread t1(wait, std::ref(in_process));
  std::thread t2(wait, std::ref(on_server));
  while (started.load() < 2) absl::SleepFor(absl::Milliseconds(1));
  absl::SleepFor(absl::Milliseconds(300));  // Let both reach their wait.
  session.reset();  // Fails both waits and waits for them to leave.
  t1.join();
  t2.join();
  EXPECT_EQ(not_found.load(), 2);
  EXPECT_FALSE(HeldByAnother(*client, "local"));  // Closed: released.
}

TEST_F(LockSharingTest, LockingOneLockTwiceIsAnErrorNotADeadlock) {
  auto client = Connect(Options());
  auto session = NewSession(*client, absl::Seconds(60));
  Lock a(*session, "k");
  a.lock();
  EXPECT_THROW(a.lock(), LockError);
  EXPECT_THROW(a.try_lock(), LockError);
  EXPECT_TRUE(a.owns_lock());
  // Unlocked from another thread (handed over): the key is free again.
  std::thread([&] { a.unlock(); }).join();
  Lock b(*session, "k");
  EXPECT_TRUE(b.try_lock());
}

TEST_F(LockSharingTest, LockRetriedAfterNoAnswerTakesTheKey) {
  ClientOptions options = Options();
  options.call_timeout = absl::Seconds(1);
  options.retry.max_attempts = 1;
  auto client = Connect(options);
  auto session = NewSession(*client, absl::Seconds(60));
  Lock a(*session, "k");
  // The daemon stops answering: the try-lock gets no answer, and may be
  // granted when the daemon resumes.
  ASSERT_EQ(kill(daemon_->pid(), SIGSTOP), 0);
  ASSERT_TRUE(WaitUntilStopped(daemon_->pid()));
  EXPECT_THROW(a.try_lock(), LockError);
  ASSERT_EQ(kill(daemon_->pid(), SIGCONT), 0);
  // Granted or not, the retry takes the key (already_held is expected now).
  bool locked = false;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (!locked && absl::Now() < give_up) {
    try {
      locked = a.try_lock();
    } catch (const LockError& e) {
      ASSERT_TRUE(absl::IsUnavailable(e.status())) << e.status();
    }
  }
  ASSERT_TRUE(locked);
  EXPECT_TRUE(HeldByAnother(*client, "k"));
  a.unlock();
  EXPECT_OK(a.last_unlock_status());
  EXPECT_FALSE(HeldByAnother(*client, "k"));
}

}  // namespace
}  // namespace taala
