#include "server/core/timer_queue.h"

#include <utility>

namespace taala {

TimerId TimerQueue::Schedule(Timer timer) {
  absl::MutexLock lock(&mu_);
  const TimerId id{timer.when, next_seq_++};
  const bool earliest =
      timers_.empty() || timer.when < timers_.begin()->first.first;
  timers_.emplace(std::make_pair(id.when, id.seq), std::move(timer));
  if (earliest) ++generation_;
  return id;
}

void TimerQueue::Cancel(TimerId& id) {
  if (!id.armed()) return;
  {
    absl::MutexLock lock(&mu_);
    timers_.erase(std::make_pair(id.when, id.seq));
  }
  id = TimerId();
}

std::vector<Timer> TimerQueue::PopDue(absl::Time now) {
  std::vector<Timer> due;
  absl::MutexLock lock(&mu_);
  auto it = timers_.begin();
  for (; it != timers_.end() && it->first.first <= now; ++it) {
    due.push_back(std::move(it->second));
  }
  timers_.erase(timers_.begin(), it);
  return due;
}

absl::Time TimerQueue::NextDeadline() {
  absl::MutexLock lock(&mu_);
  return timers_.empty() ? absl::InfiniteFuture()
                         : timers_.begin()->first.first;
}

uint64_t TimerQueue::generation() {
  absl::MutexLock lock(&mu_);
  return generation_;
}

void TimerQueue::WaitForChange(uint64_t seen, absl::Duration max_wait) {
  absl::MutexLock lock(&mu_);
  auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return generation_ != seen;
  };
  mu_.AwaitWithTimeout(absl::Condition(&changed), max_wait);
}

void TimerQueue::Wake() {
  absl::MutexLock lock(&mu_);
  ++generation_;
}

size_t TimerQueue::size() {
  absl::MutexLock lock(&mu_);
  return timers_.size();
}

}  // namespace taala
