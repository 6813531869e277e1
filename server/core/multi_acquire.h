#ifndef TAALA_SERVER_CORE_MULTI_ACQUIRE_H_
#define TAALA_SERVER_CORE_MULTI_ACQUIRE_H_

// MultiAcquire is AcquireAll's sequencing, free of any transport: the keys
// are taken one at a time in path order (KeyPathLess: ancestors first, each
// subtree contiguous), one global order so that AcquireAll callers cannot
// deadlock among themselves, each step an
// ordinary LockTable::Acquire with what is left of the wait. A step that
// must wait queues the MultiAcquire itself as the key's Waiter. On a
// timeout, an error or a cancel, the keys taken so far are released again
// (not those the session held before the call: an idempotent retry keeps
// them). The outcome goes to a MultiAcquireListener, which the transport
// implements (today the unary AcquireAll reactor).
//
// Thread safety: Start() is called once; after that, steps run one at a
// time (in Start, or in Complete of the one waiting step, on the thread
// that completed it), while Cancel() may come from any thread.
// Uses only LockTable's public API; no table mutex is held while it runs,
// and the listener is never called under one.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/clock.h"
#include "server/core/commands.h"
#include "server/core/lock_table.h"

namespace taala {

struct MultiAcquireCmd {
  struct Key {
    Key() = default;
    Key(std::string k, LockMode m = LockMode::kExclusive)  // NOLINT
        : key(std::move(k)), mode(m) {}
    std::string key;  // Already validated (ValidateKey).
    LockMode mode = LockMode::kExclusive;
    // This key's own values (AcquireAll's lock policies, per key); unset:
    // the command's.
    std::optional<absl::Duration> max_hold;
    std::optional<absl::Duration> lock_delay;
  };
  uint64_t session_id = 0;
  std::vector<Key> keys;  // Request order; at least one.
  // For all the keys together. InfiniteFuture: until granted or cancelled.
  absl::Time deadline = absl::InfiniteFuture();
  absl::Duration max_hold;    // As AcquireCmd, for every key without its own.
  absl::Duration lock_delay;  // As AcquireCmd, for every key without its own.
};

struct MultiAcquireResult {
  // False: the deadline passed first (a normal answer); nothing taken by
  // this call is held any more.
  bool acquired = false;
  std::vector<AcquireResult> grants;  // When acquired: in request order.
};

// Receives a MultiAcquire's outcome.
class MultiAcquireListener {
 public:
  // Called exactly once, never under a table mutex, possibly on any thread
  // (the one that granted the last waiting step, a timer, a cancel).
  // OK: acquired, or timed out. CANCELLED: the caller went away
  // (MultiAcquire::Cancel). INVALID_ARGUMENT: a key listed twice. Otherwise
  // the error of the step that failed (NOT_FOUND, ABORTED, ...). The
  // MultiAcquire touches nothing of its own after this call, so the
  // listener may destroy it (directly or by finishing its call).
  virtual void OnMultiAcquireDone(absl::StatusOr<MultiAcquireResult> result) = 0;

 protected:
  ~MultiAcquireListener() = default;
};

class MultiAcquire final : public Waiter {
 public:
  // `table`, `clock` and `listener` must outlive *this.
  MultiAcquire(LockTable* table, Clock* clock, MultiAcquireCmd cmd,
               MultiAcquireListener* listener);
  MultiAcquire(const MultiAcquire&) = delete;
  MultiAcquire& operator=(const MultiAcquire&) = delete;

  // Takes the steps until one must wait (Complete goes on) or the call is
  // over. Called once.
  void Start();

  // The caller has gone: ends the call with CANCELLED (after rolling back)
  // as soon as the running step allows; a waiting step leaves its queue at
  // once. May be called from any thread, before or after the outcome, as
  // long as *this lives.
  void Cancel();

  // Test only, set before Start: called on the thread that queued a step
  // right after LockTable::Acquire returned "queued", standing in for
  // another thread that grants the step meanwhile.
  void SetStepQueuedHookForTest(std::function<void()> hook) {
    step_queued_hook_ = std::move(hook);
  }

  // Waiter, for the step that waits.
  bool Complete(absl::StatusOr<AcquireResult> result) override;
  bool Gone() const override;

 private:
  struct Step {
    std::string key;
    LockMode mode;
    size_t index;  // Position in the request.
    absl::Duration max_hold;
    absl::Duration lock_delay;
  };
  static std::vector<Step> SortedSteps(MultiAcquireCmd& cmd);

  void Run();
  // Records one step's outcome. False if the call is over.
  bool Take(const absl::StatusOr<AcquireResult>& result);
  void CancelWaitOn(const std::string& key);
  void RollBack();
  // Ends the call: tells the listener now, or, if a thread is still inside
  // a step (in_step_), leaves the outcome for that thread's LeaveStep.
  void Done(absl::StatusOr<MultiAcquireResult> result);
  // A thread leaves the step it entered in Run. If it is the last one in
  // and the call has ended meanwhile, it tells the listener and returns true
  // (*this may be gone).
  bool LeaveStep();

  LockTable* const table_;
  Clock* const clock_;
  MultiAcquireListener* const listener_;
  // Constant after construction.
  const uint64_t session_id_;
  const std::vector<Step> steps_;  // In KeyPathLess order.
  const absl::Time deadline_;

  std::function<void()> step_queued_hook_;  // Test only.

  std::atomic<bool> gone_{false};
  // Steps are taken one at a time (Run, or Complete of the one waiting
  // step), so these need no lock.
  size_t next_ = 0;
  std::vector<AcquireResult> grants_;  // By request position.
  // The key this call waits for, for Cancel (another thread).
  absl::Mutex mu_;
  const std::string* waiting_on_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Threads between entering a step in Run (before LockTable::Acquire) and
  // leaving it: once a step is queued, another thread may grant it and end
  // the call before the queuing thread is done reading *this. While one is
  // in, the outcome waits here.
  int in_step_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<absl::StatusOr<MultiAcquireResult>> outcome_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace taala

#endif  // TAALA_SERVER_CORE_MULTI_ACQUIRE_H_
