#include "server/core/multi_acquire.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/core/key.h"

namespace taala {
namespace {

constexpr char kCancelledMessage[] = "acquire cancelled by the caller";

}  // namespace

MultiAcquire::MultiAcquire(LockTable* table, Clock* clock, MultiAcquireCmd cmd,
                           MultiAcquireListener* listener)
    : table_(table),
      clock_(clock),
      listener_(listener),
      session_id_(cmd.session_id),
      steps_(SortedSteps(cmd)),
      deadline_(cmd.deadline),
      grants_(steps_.size()) {}

std::vector<MultiAcquire::Step> MultiAcquire::SortedSteps(
    MultiAcquireCmd& cmd) {
  std::vector<MultiAcquireCmd::Key>& keys = cmd.keys;
  std::vector<Step> steps;
  steps.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    steps.push_back({std::move(keys[i].key), keys[i].mode, i,
                     keys[i].max_hold.value_or(cmd.max_hold),
                     keys[i].lock_delay.value_or(cmd.lock_delay)});
  }
  // Segment by segment, not bytewise: a key's subtree stays contiguous
  // (bytewise, '-' and '.' put "a-x" between "a" and "a/b").
  std::sort(steps.begin(), steps.end(), [](const Step& a, const Step& b) {
    return KeyPathLess(a.key, b.key);
  });
  return steps;
}

void MultiAcquire::Start() {
  for (size_t i = 1; i < steps_.size(); ++i) {
    if (steps_[i].key == steps_[i - 1].key) {
      Done(absl::InvalidArgumentError(
          absl::StrCat("keys: \"", steps_[i].key, "\" is listed twice")));
      return;
    }
  }
  Run();
}

bool MultiAcquire::Complete(absl::StatusOr<AcquireResult> result) {
  if (gone_.load()) {
    RollBack();
    Done(absl::CancelledError(kCancelledMessage));
    return false;  // The table takes this step's grant back.
  }
  if (Take(result)) Run();
  return true;
}

bool MultiAcquire::Gone() const { return gone_.load(); }

void MultiAcquire::Cancel() {
  gone_.store(true);
  std::optional<std::string> key;
  {
    absl::MutexLock lock(&mu_);
    if (waiting_on_ != nullptr) key = *waiting_on_;
  }
  // No-op if that wait was granted or ended meanwhile.
  if (key.has_value()) CancelWaitOn(*key);
}

void MultiAcquire::Run() {
  while (next_ < steps_.size()) {
    const Step& step = steps_[next_];
    if (gone_.load()) {
      RollBack();
      Done(absl::CancelledError(kCancelledMessage));
      return;
    }
    AcquireCmd cmd;
    cmd.session_id = session_id_;
    cmd.key = step.key;
    cmd.mode = step.mode;
    cmd.now = clock_->Now();
    cmd.wait_timeout =
        deadline_ == absl::InfiniteFuture()
            ? absl::InfiniteDuration()
            : std::max(absl::ZeroDuration(), deadline_ - cmd.now);
    cmd.max_hold = step.max_hold;
    cmd.lock_delay = step.lock_delay;
    {
      absl::MutexLock lock(&mu_);
      waiting_on_ = &step.key;
      ++in_step_;
    }
    std::optional<absl::StatusOr<AcquireResult>> outcome =
        table_->Acquire(cmd, this);
    if (!outcome.has_value()) {
      if (step_queued_hook_) {
        std::function<void()> hook = step_queued_hook_;
        hook();
      }
      // Queued: Complete() goes on, perhaps already on another thread, and
      // may end the call; while this thread is in the step (in_step_) the
      // outcome waits for LeaveStep, so *this is still alive here. A cancel
      // that came before the wait was queued found nothing to cancel:
      // cancel it now.
      if (gone_.load()) CancelWaitOn(step.key);
      LeaveStep();
      return;  // *this may be gone.
    }
    if (LeaveStep()) return;
    {
      absl::MutexLock lock(&mu_);
      waiting_on_ = nullptr;
    }
    if (!Take(*outcome)) return;
  }
  MultiAcquireResult result;
  result.acquired = true;
  result.grants = std::move(grants_);
  Done(std::move(result));
}

bool MultiAcquire::Take(const absl::StatusOr<AcquireResult>& result) {
  {
    absl::MutexLock lock(&mu_);
    waiting_on_ = nullptr;
  }
  if (!result.ok()) {
    RollBack();
    Done(result.status());
    return false;
  }
  if (!result->acquired) {
    RollBack();
    Done(MultiAcquireResult{});  // Timed out.
    return false;
  }
  grants_[steps_[next_].index] = *result;
  ++next_;
  return true;
}

void MultiAcquire::CancelWaitOn(const std::string& key) {
  const Waiter* self = this;
  table_->CancelWait(CancelWaitCmd{session_id_, key, 0, self,
                                   CancelReason::kCancelled, clock_->Now()});
}

void MultiAcquire::RollBack() {
  const absl::Time now = clock_->Now();
  for (size_t i = 0; i < next_; ++i) {
    const AcquireResult& r = grants_[steps_[i].index];
    if (r.already_held) continue;  // Held before this call: keep it.
    // Undone, not released: an upgraded key goes back to SHARED.
    table_->UndoGrant(ReleaseCmd{session_id_, r.grant.key, r.grant.token, now})
        .IgnoreError();
  }
  next_ = 0;
}

bool MultiAcquire::LeaveStep() {
  std::optional<absl::StatusOr<MultiAcquireResult>> outcome;
  {
    absl::MutexLock lock(&mu_);
    if (--in_step_ > 0 || !outcome_.has_value()) return false;
    outcome.swap(outcome_);
  }
  // Last touch of *this: the listener may destroy it.
  listener_->OnMultiAcquireDone(*std::move(outcome));
  return true;
}

void MultiAcquire::Done(absl::StatusOr<MultiAcquireResult> result) {
  {
    absl::MutexLock lock(&mu_);
    if (in_step_ > 0) {
      // A thread that queued a step is still in Run: it delivers the
      // outcome as it leaves (LeaveStep), so *this outlives its reads.
      outcome_ = std::move(result);
      return;
    }
  }
  // Last touch of *this: the listener may destroy it.
  listener_->OnMultiAcquireDone(std::move(result));
}

}  // namespace taala
