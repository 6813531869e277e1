#ifndef TAALA_TESTS_SERVER_CORE_GATED_LOG_H_
#define TAALA_TESTS_SERVER_CORE_GATED_LOG_H_

// A TransitionLog for tests whose records become durable only when the test
// says so (all of them, or a prefix up to an LSN).

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "server/core/durable_state.h"
#include "server/core/transition.h"

namespace taala::test {

// A log made durable up to an LSN the test names, as the Wal's group commit
// does: its writer publishes whatever prefix was appended when it swapped
// the buffer, which may fall between two Appends of one critical section.
class GatedLog final : public TransitionLog {
 public:
  uint64_t Append(const Transition& t) override {
    absl::MutexLock lock(&mu_);
    records_.push_back(t);
    records_.back().lsn = ++last_;
    return last_;
  }
  uint64_t TakeNumber() override {
    absl::MutexLock lock(&mu_);
    return ++last_;
  }
  uint64_t LastLsn() const override {
    absl::MutexLock lock(&mu_);
    return last_;
  }
  void WhenDurable(uint64_t lsn, absl::AnyInvocable<void()> fn) override {
    {
      absl::MutexLock lock(&mu_);
      if (lsn > durable_) {
        waiting_.push_back({lsn, std::move(fn)});
        return;
      }
    }
    fn();
  }
  bool IsDurable(uint64_t lsn) const override {
    absl::MutexLock lock(&mu_);
    return lsn <= durable_;
  }
  void MakeDurableThrough(uint64_t lsn) {
    std::vector<absl::AnyInvocable<void()>> run;
    {
      absl::MutexLock lock(&mu_);
      durable_ = lsn;
      for (auto it = waiting_.begin(); it != waiting_.end();) {
        if (it->first <= durable_) {
          run.push_back(std::move(it->second));
          it = waiting_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& fn : run) fn();
  }
  void MakeDurable() { MakeDurableThrough(LastLsn()); }
  std::vector<Transition> records() {
    absl::MutexLock lock(&mu_);
    return records_;
  }
  // What a crash now leaves: the durable prefix, replayed.
  DurableState Replay() {
    absl::MutexLock lock(&mu_);
    DurableState d;
    for (const Transition& t : records_) {
      if (t.lsn > durable_) break;
      EXPECT_TRUE(d.Apply(t)) << TransitionToString(t);
    }
    return d;
  }

 private:
  mutable absl::Mutex mu_;
  uint64_t last_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t durable_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Transition> records_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<uint64_t, absl::AnyInvocable<void()>>> waiting_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace taala::test

#endif  // TAALA_TESTS_SERVER_CORE_GATED_LOG_H_
