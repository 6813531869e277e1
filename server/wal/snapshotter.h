#ifndef TAALA_SERVER_WAL_SNAPSHOTTER_H_
#define TAALA_SERVER_WAL_SNAPSHOTTER_H_

// The log's snapshot thread. It is fed every batch the writer wrote (framed
// records, in LSN order), folds them into its own DurableState (a shadow of
// the table's: no table mutex is involved, so traffic never stops), and on
// the writer's request writes that state as a snapshot, removes the log
// segments it covers and keeps at most two snapshots.
//
// The shadow state's base (the recovered state) may be given after Start
// (SetBase): the thread folds nothing before it has it, so the table can be
// restored from the same state first and it is moved, never copied.
//
// Thread safety: Feed, SnapshotBefore, SetBase, WaitIdle and Stop may be
// called from any thread; the shadow state belongs to the snapshot thread
// once SetBase has handed it over.

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/core/durable_state.h"

namespace taala::wal {

class Snapshotter {
 public:
  // `on_fatal` gets a message naming the file when a snapshot cannot be
  // written, or the LSN of a record the shadow state rejects.
  Snapshotter(std::string dir,
              std::function<void(const std::string&)> on_fatal);
  ~Snapshotter();  // Stops.
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  void Start();
  // The state the batches fed apply to. Call once; WaitIdle waits for it
  // if anything was fed.
  void SetBase(DurableState base) ABSL_LOCKS_EXCLUDED(mu_);
  // A batch of frames the writer wrote.
  void Feed(std::string batch) ABSL_LOCKS_EXCLUDED(mu_);
  // After the batches fed so far: snapshot, then remove every segment whose
  // first LSN is below `next_segment_first` (the segment the writer has just
  // started); all their records are in the snapshot.
  void SnapshotBefore(uint64_t next_segment_first) ABSL_LOCKS_EXCLUDED(mu_);
  // Returns once everything queued so far is done.
  void WaitIdle() ABSL_LOCKS_EXCLUDED(mu_);
  // Drops the queued work and joins the thread.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t snapshots_written() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Item {
    std::string batch;
    uint64_t boundary = 0;  // SnapshotBefore's argument; 0: a batch.
  };

  void Loop() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Fold(absl::string_view batch);
  absl::Status Take(uint64_t boundary);

  const std::string dir_;
  const std::function<void(const std::string&)> on_fatal_;
  // The snapshot thread's own once has_base_ (set under mu_).
  DurableState state_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool has_base_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t written_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace taala::wal

#endif  // TAALA_SERVER_WAL_SNAPSHOTTER_H_
