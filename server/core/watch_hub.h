#ifndef TAALA_SERVER_CORE_WATCH_HUB_H_
#define TAALA_SERVER_CORE_WATCH_HUB_H_

// WatchHub: the log as Watch sees it. A TransitionLog decorator put between
// the table and the real log (taalad: the WAL; tests: a MemoryLog): its
// Append takes the hub's mutex, appends to the inner log (which gives the
// LSN) and, for a key's record, pushes a compact immutable WatchRecord into
// a bounded history ring, so the ring is in LSN order. Observer-only records
// (wait started and ended, deadlock refusals) come from the shards through
// Observe while someone watches, into the same ring, live-only (lsn 0,
// after the last logged LSN). Watchers (server/rpc/watch_*.h) read the ring
// from their own cursors; the hub never calls out and never waits on them.
//
// Positions: the ring numbers its records from 0 (a record keeps its
// position); it keeps the last `capacity` of them. A resume from after_lsn
// is possible while every key record above after_lsn is retained:
// after_lsn >= floor_lsn() (the LSN of the newest record the ring dropped,
// or the log's last LSN when the hub was made, or Seed's floor).
//
// Thread safety: every method may be called concurrently. Lock order: the
// hub's mutex is a leaf below every table mutex (Append and Observe run
// under shard and session mutexes; Mark under a shard mutex) and above only
// the inner log's own. Its critical sections do no I/O and no callbacks.

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/durable_state.h"
#include "server/core/transition.h"
#include "server/core/watch_fold.h"

namespace taala {

class WatchHub final : public TransitionLog {
 public:
  using RecordPtr = std::shared_ptr<const WatchRecord>;

  // `inner` must outlive the hub; `capacity` (> 0) records are kept.
  WatchHub(TransitionLog* inner, size_t capacity);

  // Before any Append: the history starts with the key records of
  // `replayed` (records recovery replayed, in LSN order; client names from
  // their kSessionCreated records or `state`'s sessions), and a watch may
  // resume after `floor` (or later) instead of the log's last LSN: every
  // key record above `floor` is in `replayed`. Only for a log whose every
  // record a watcher may have seen is in `replayed` (see taalad's main).
  void Seed(const std::deque<Transition>& replayed, uint64_t floor,
            const DurableState& state);

  // TransitionLog.
  uint64_t Append(const Transition& t) override;
  uint64_t TakeNumber() override { return inner_->TakeNumber(); }
  uint64_t LastLsn() const override { return inner_->LastLsn(); }
  void WhenDurable(uint64_t lsn, absl::AnyInvocable<void()> fn) override {
    inner_->WhenDurable(lsn, std::move(fn));
  }
  bool IsDurable(uint64_t lsn) const override {
    return inner_->IsDurable(lsn);
  }
  bool WantsObserverRecords() const override {
    return watchers_.load(std::memory_order_relaxed) > 0;
  }
  void Observe(const Transition& t) override;

  // Watchers count while registered: observer-only records are made only
  // then. Register before reading any state (watch_snapshot.cc).
  void AddWatcher() { watchers_.fetch_add(1); }
  void RemoveWatcher() { watchers_.fetch_sub(1); }
  int watchers() const { return watchers_.load(); }

  // A point in the ring: the next position and the last LSN issued, read
  // together (under a shard's mutex, it is that shard's point).
  struct Mark {
    uint64_t position = 0;
    uint64_t lsn = 0;
  };
  Mark Now() const;

  // The retained records from `position` on, at most `max`. `*first` gets
  // the oldest retained position (above `position`: some were dropped).
  std::vector<RecordPtr> Read(uint64_t position, size_t max,
                              uint64_t* first) const;
  // The position of the oldest retained logged record with an LSN above
  // `after_lsn`, or an error: OUT_OF_RANGE "compacted" if records above it
  // may be gone, "ahead of the log" if it is above the last LSN.
  absl::StatusOr<uint64_t> ResumePosition(uint64_t after_lsn) const;
  // See above.
  uint64_t floor_lsn() const;
  // The LSN of the newest logged record the history took (or the floor it
  // started from when none since): no record a watcher may be shown lies
  // between it and LastLsn(). At a clean stop, the next run's floor
  // (taalad writes it into the final snapshot).
  uint64_t last_key_lsn() const;

  // Waits until a record at or after `position` exists, Kick is called, or
  // `timeout` passes.
  void WaitFor(uint64_t position, absl::Duration timeout) const;
  // Wakes WaitFor (say, when records became durable).
  void Kick();

 private:
  void PushLocked(RecordPtr r, RecordPtr* dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  TransitionLog* const inner_;
  const size_t capacity_;
  std::atomic<int> watchers_{0};
  mutable absl::Mutex mu_;
  std::vector<RecordPtr> ring_ ABSL_GUARDED_BY(mu_);  // position % capacity_
  uint64_t end_ ABSL_GUARDED_BY(mu_) = 0;             // Next position.
  uint64_t floor_lsn_ ABSL_GUARDED_BY(mu_);
  uint64_t last_key_lsn_ ABSL_GUARDED_BY(mu_);
  uint64_t last_logged_ ABSL_GUARDED_BY(mu_);  // Last LSN from Append.
  uint64_t kicks_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace taala

#endif  // TAALA_SERVER_CORE_WATCH_HUB_H_
