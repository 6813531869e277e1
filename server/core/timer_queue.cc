#include "server/core/timer_queue.h"

#include <utility>

namespace taala {

void TimerQueue::Schedule(Timer timer) {
  absl::MutexLock lock(&mu_);
  const bool earliest = heap_.empty() || timer.when < heap_.top().when;
  heap_.push(std::move(timer));
  if (earliest) ++generation_;
}

std::vector<Timer> TimerQueue::PopDue(absl::Time now) {
  std::vector<Timer> due;
  absl::MutexLock lock(&mu_);
  while (!heap_.empty() && heap_.top().when <= now) {
    // priority_queue::top() is const; the copy is cheap next to the work the
    // timer triggers.
    due.push_back(heap_.top());
    heap_.pop();
  }
  return due;
}

absl::Time TimerQueue::NextDeadline() {
  absl::MutexLock lock(&mu_);
  return heap_.empty() ? absl::InfiniteFuture() : heap_.top().when;
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
  return heap_.size();
}

}  // namespace taala
