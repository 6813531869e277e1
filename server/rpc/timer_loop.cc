#include "server/rpc/timer_loop.h"

#include <algorithm>

namespace taala {

TimerLoop::TimerLoop(LockTable* table, Clock* clock,
                     absl::Duration max_sleep)
    : table_(table), clock_(clock), max_sleep_(max_sleep) {}

TimerLoop::~TimerLoop() { Stop(); }

void TimerLoop::Start() { thread_ = std::thread([this] { Run(); }); }

void TimerLoop::Stop() {
  stop_.store(true);
  table_->timers().Wake();
  if (thread_.joinable()) thread_.join();
}

void TimerLoop::Run() {
  TimerQueue& timers = table_->timers();
  while (!stop_.load()) {
    // Read first: a timer scheduled (or a Stop) from here on ends the wait.
    const uint64_t seen = timers.generation();
    table_->RunDueTimers(clock_->Now());
    const absl::Duration wait =
        std::min(max_sleep_, timers.NextDeadline() - clock_->Now());
    if (wait > absl::ZeroDuration()) timers.WaitForChange(seen, wait);
  }
}

}  // namespace taala
