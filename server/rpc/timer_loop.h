#ifndef TAALA_SERVER_RPC_TIMER_LOOP_H_
#define TAALA_SERVER_RPC_TIMER_LOOP_H_

#include <atomic>
#include <thread>

#include "absl/time/time.h"
#include "server/core/clock.h"
#include "server/core/lock_table.h"

namespace taala {

// The thread that runs the lock table's due timers of every kind (lease
// expiry, wait timeouts, max hold times, lock-delay ends): a thin loop over
// LockTable::RunDueTimers. It sleeps until the earliest
// deadline, waking early when an earlier one is scheduled; `max_sleep` bounds
// a sleep so a missed wake-up costs at most that long.
class TimerLoop {
 public:
  TimerLoop(LockTable* table, Clock* clock,
            absl::Duration max_sleep = absl::Milliseconds(200));
  ~TimerLoop();  // Stops the thread.

  void Start();
  void Stop();

 private:
  void Run();

  LockTable* const table_;
  Clock* const clock_;
  const absl::Duration max_sleep_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace taala

#endif  // TAALA_SERVER_RPC_TIMER_LOOP_H_
