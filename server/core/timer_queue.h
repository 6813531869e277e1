#ifndef TAALA_SERVER_CORE_TIMER_QUEUE_H_
#define TAALA_SERVER_CORE_TIMER_QUEUE_H_

#include <cstdint>
#include <queue>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
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

// A min-heap of timers. Entries are never removed early: when one fires, the
// lock table checks whether it still applies (the lease was renewed, the
// waiter was granted, the grant was released) and ignores or re-arms it. So
// a keepalive costs no timer work, and each live session has one entry.
//
// Thread safety: all methods may be called concurrently. mu_ is a leaf lock:
// it may be taken while a lock-table shard mutex is held.
class TimerQueue {
 public:
  void Schedule(Timer timer) ABSL_LOCKS_EXCLUDED(mu_);

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

  size_t size() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Later {
    bool operator()(const Timer& a, const Timer& b) const {
      return a.when > b.when;
    }
  };

  absl::Mutex mu_;
  std::priority_queue<Timer, std::vector<Timer>, Later> heap_
      ABSL_GUARDED_BY(mu_);
  // Bumped whenever a sleeper should re-evaluate its deadline.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace taala

#endif  // TAALA_SERVER_CORE_TIMER_QUEUE_H_
