#ifndef TAALA_SERVER_CORE_TIMER_QUEUE_H_
#define TAALA_SERVER_CORE_TIMER_QUEUE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace taala {

// One deadline the lock table must act on.
struct Timer {
  enum class Kind {
    kSessionExpiry,  // session_id's lease may have run out.
    kWaitTimeout,    // the wait `id` of session_id on `key` may have timed out.
    kMaxHold,        // the grant with token `id` on `key` reached max hold.
    kLockDelayEnd,   // the lock-delay on `key` may be over.
  };
  absl::Time when;
  Kind kind;
  uint64_t session_id = 0;
  uint64_t id = 0;
  std::string key;
};

// Names one scheduled timer, for Cancel. A default TimerId names none.
struct TimerId {
  absl::Time when = absl::InfinitePast();
  uint64_t seq = 0;  // 0: no timer.
  bool armed() const { return seq != 0; }
};

// Timers ordered by deadline. A timer that belongs to a grant or a wait is
// cancelled when the grant or wait ends (O(log n)), so the queue holds only
// timers of live state: released grants and cancelled waits leave nothing
// behind. (Cancelling beats lazy deletion: the bound is exact, and there is
// no compaction pass to stall every shard under this shared mutex.) When a
// timer fires the lock table still checks whether it applies (the lease was
// renewed, a longer lock-delay started) and ignores or re-arms it; session
// expiries are not cancelled, so a keepalive costs no timer work, and each
// session has one entry until its lease would run out.
//
// Thread safety: all methods may be called concurrently. mu_ is a leaf lock:
// it may be taken while a lock-table shard mutex is held.
class TimerQueue {
 public:
  TimerId Schedule(Timer timer) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes the timer `id` if it has not fired yet; a no-op for an unarmed
  // id or a timer already popped. Resets `id`.
  void Cancel(TimerId& id) ABSL_LOCKS_EXCLUDED(mu_);

  // Removes and returns every timer due at or before `now`, earliest first.
  std::vector<Timer> PopDue(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // The earliest deadline, or absl::InfiniteFuture() if none.
  absl::Time NextDeadline() ABSL_LOCKS_EXCLUDED(mu_);

  // A counter bumped whenever a timer earlier than all others is scheduled
  // or Wake() is called. Read it before looking at the queue, then pass it
  // to WaitForChange, so that no such change is missed in between.
  uint64_t generation() ABSL_LOCKS_EXCLUDED(mu_);

  // Blocks (in real time) for at most `max_wait`, returning early (or at
  // once) when generation() is no longer `seen`.
  void WaitForChange(uint64_t seen, absl::Duration max_wait)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Wake() ABSL_LOCKS_EXCLUDED(mu_);

  // The number of timers scheduled and neither fired nor cancelled.
  size_t size() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;
  // By (deadline, sequence): earliest first, FIFO among equal deadlines.
  absl::btree_map<std::pair<absl::Time, uint64_t>, Timer> timers_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  // Bumped whenever a sleeper should re-evaluate its deadline.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace taala

#endif  // TAALA_SERVER_CORE_TIMER_QUEUE_H_
