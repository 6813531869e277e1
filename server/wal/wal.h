#ifndef TAALA_SERVER_WAL_WAL_H_
#define TAALA_SERVER_WAL_WAL_H_

// The write-ahead log: the TransitionLog (server/core/transition.h) that
// keeps the table's records on disk.
//
// Append assigns the next LSN and frames the record into an in-memory
// buffer under one leaf mutex (mu_): no file I/O there. One writer thread
// swaps the buffer out, writes it to the current segment, fsyncs and
// publishes the durable LSN (group commit: one fsync serves everything
// appended while the previous one ran; no batching delay). A callback
// thread runs the WhenDurable callbacks that are due, in LSN order, outside
// every mutex: a callback may Append (the table's deferred effects do) and
// so wait for a reservation renewal, which only the writer does; and the
// writer starts the next fsync without waiting for replies to finish. A snapshot
// thread (snapshotter.h) folds the written batches into a shadow state and
// turns them into snapshots, after which old segments go.
//
// LSNs never repeat, even across crashes and in none mode: the writer keeps
// <dir>/lsn_reserved (the highest LSN that may be issued) ahead of use,
// renewing it when fewer than reserve_block/2 numbers remain; Append waits
// (on a condition, no I/O) only if the reservation runs out.
//
// A failed write, fsync or open calls options.on_fatal and the log stops:
// nothing becomes durable after it.
//
// Thread safety: every TransitionLog method, NoteSessionTtl and stats may
// be called concurrently. Lock order: callers' mutexes > mu_ (leaf);
// durable_mu_, stats_mu_ and ttl_mu_ are leaves never held with mu_. No
// thread of the log runs a callback while holding any mutex.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/durable_state.h"
#include "server/core/transition.h"
#include "server/wal/histogram.h"
#include "server/wal/recovery.h"
#include "server/wal/snapshotter.h"
#include "server/wal/wal_options.h"

namespace taala::wal {

class Wal final : public TransitionLog {
 public:
  struct Stats {
    uint64_t records = 0;        // Appended.
    uint64_t batches = 0;        // Non-empty batches written.
    uint64_t fsyncs = 0;         // Of log segments.
    uint64_t bytes_written = 0;  // Log bytes (frames and headers).
    uint64_t segments_created = 0;
    uint64_t snapshots = 0;  // Written by the snapshot thread.
    double records_per_fsync = 0;
    absl::Duration fsync_total;  // Time spent in log fsyncs.
    absl::Duration fsync_max;
    // Every log fsync's latency (ns), and the records each written batch
    // carried (one fsync each: the group commit's batch size).
    FixedHistogram::Snapshot fsync_ns;
    FixedHistogram::Snapshot batch_records;
  };

  // Creates the directories, removes stale temporary files (files.h's
  // RemoveStaleTempFiles), writes a fresh LSN reservation and marks the
  // run "<mode> running" (all durably), starting at recovered.next_lsn with
  // recovered.state as the snapshot thread's state. If recovery dropped the
  // sessions (!restore_sessions), first writes that state as a snapshot
  // that supersedes the old log, which it removes. If grants are refused
  // (refuse_grants_for > 0), first persists the window's end
  // (<dir>/grants_refused_until) so that later starts keep refusing.
  //
  // This overload takes the recovered state over without copying it:
  // restore the table from recovered_state(), then call
  // DoneWithRecoveredState(), which hands it to the snapshot thread (that
  // folds nothing before). The const overload copies the state and does
  // both at once.
  static absl::StatusOr<std::unique_ptr<Wal>> Open(const WalOptions& options,
                                                   Recovered&& recovered);
  static absl::StatusOr<std::unique_ptr<Wal>> Open(const WalOptions& options,
                                                   const Recovered& recovered);
  // The recovered state (its lsn and max_events as the log sees them),
  // until DoneWithRecoveredState. Read it on one thread only.
  const DurableState& recovered_state() const { return recovered_state_; }
  // Hands the recovered state to the snapshot thread (in none mode: frees
  // it). Call once, after Open(Recovered&&).
  void DoneWithRecoveredState();
  // Stops the threads, flushing what was appended, without marking the run
  // clean (use Close for that).
  ~Wal() override;
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  // Launches the writer, callback and snapshot threads. Appends before Start are
  // buffered (at most reserve_block numbers: the reservation is renewed by
  // the writer).
  void Start();

  uint64_t Append(const Transition& t) override ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t TakeNumber() override ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t LastLsn() const override ABSL_LOCKS_EXCLUDED(mu_);
  // At once on this thread if `lsn` is durable and the callbacks due up to
  // it have run (so callbacks keep LSN order); else on the callback thread.
  void WhenDurable(uint64_t lsn, absl::AnyInvocable<void()> fn) override
      ABSL_LOCKS_EXCLUDED(durable_mu_);
  bool IsDurable(uint64_t lsn) const override;

  // Persists `ttl` (<dir>/max_session_ttl, ms) if it exceeds the persisted
  // value. File I/O: never call it under a table mutex.
  [[nodiscard]] absl::Status NoteSessionTtl(absl::Duration ttl)
      ABSL_LOCKS_EXCLUDED(ttl_mu_);

  // Stops accepting records (a later Append is a programming error and
  // aborts), writes and fsyncs everything, stops the threads; then, if
  // `final_state` is given, writes it as a clean snapshot at its lsn and
  // removes the segments it covers (in every mode), and marks the run clean
  // (in none mode only with a final state: without one nothing on disk
  // holds this run's state). The callbacks due by then run (on the callback
  // thread, which Close joins); callbacks for LSNs never issued are dropped.
  // `watch_floor`: the final snapshot's (snapshot_file.h; 0: unknown).
  [[nodiscard]] absl::Status Close(const DurableState* final_state,
                                   uint64_t watch_floor = 0)
      ABSL_LOCKS_EXCLUDED(mu_);

  Stats stats() const ABSL_LOCKS_EXCLUDED(stats_mu_);

  // Waits until everything appended so far is written, its callbacks have
  // run and it is folded into the snapshot thread's state.
  void FlushForTest() ABSL_LOCKS_EXCLUDED(mu_, durable_mu_);
  // A crash: stops the threads without writing the buffer, a clean marker or
  // anything else.
  void AbandonForTest() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Wal(const WalOptions& options, const Recovered& recovered);

  bool WriterHasWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool NeedRenewalLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stops the threads; `drain`: write the buffer first.
  void Shutdown(bool drain) ABSL_LOCKS_EXCLUDED(mu_);
  // wal_writer.cc: the writer thread and what only it touches.
  void WriterLoop() ABSL_LOCKS_EXCLUDED(mu_, durable_mu_);
  absl::Status WriteBatch(const std::string& batch, uint64_t first_lsn,
                          uint64_t records);
  absl::Status StartSegment(uint64_t first_lsn);
  absl::Status WriteAll(const std::string& path, const char* data,
                        size_t size);
  absl::Status Sync(const std::string& path);
  void Publish(uint64_t lsn) ABSL_LOCKS_EXCLUDED(durable_mu_);
  // The callback thread: runs the callbacks due, in LSN order, outside every
  // mutex, then advances published_lsn_; returns once stop_callbacks_ is
  // set and nothing is due.
  void CallbackLoop() ABSL_LOCKS_EXCLUDED(durable_mu_);
  bool CallbacksHaveWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(durable_mu_);
  void Fatal(const std::string& message) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status RemoveCoveredSegments(uint64_t lsn);

  const WalOptions options_;
  const bool log_files_;  // False in none mode.
  DurableState recovered_state_;  // Until DoneWithRecoveredState.
  bool recovered_state_done_ = false;
  std::unique_ptr<Snapshotter> snapshotter_;  // Null in none mode.
  std::thread writer_;
  std::thread callback_thread_;

  mutable absl::Mutex mu_;  // The append buffer: a leaf.
  uint64_t last_lsn_ ABSL_GUARDED_BY(mu_);
  // last_lsn_, stored under mu_ whenever it grows and read without it
  // (LastLsn: every reply asks, and mu_ is the append path's mutex).
  std::atomic<uint64_t> issued_lsn_;
  uint64_t taken_lsn_ ABSL_GUARDED_BY(mu_);  // Handed to the writer.
  uint64_t reserved_ ABSL_GUARDED_BY(mu_);   // Durable reservation.
  std::string buffer_ ABSL_GUARDED_BY(mu_);
  uint64_t buffer_first_lsn_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t buffer_last_lsn_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t buffer_records_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t records_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;  // No more Appends.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool abandon_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;

  mutable absl::Mutex durable_mu_;
  // Written under durable_mu_; read without it by IsDurable.
  std::atomic<uint64_t> durable_lsn_;
  std::multimap<uint64_t, absl::AnyInvocable<void()>> callbacks_
      ABSL_GUARDED_BY(durable_mu_);
  // Durable, and the callbacks due then have run (FlushForTest, and
  // WhenDurable's at-once path). Written under durable_mu_.
  std::atomic<uint64_t> published_lsn_;
  bool stop_callbacks_ ABSL_GUARDED_BY(durable_mu_) = false;

  mutable absl::Mutex stats_mu_;
  Stats stats_ ABSL_GUARDED_BY(stats_mu_);
  // Written by the writer thread only; read by stats() without a mutex.
  FixedHistogram fsync_ns_;
  FixedHistogram batch_records_;

  absl::Mutex ttl_mu_;
  int64_t persisted_ttl_ms_ ABSL_GUARDED_BY(ttl_mu_) = 0;

  // The writer thread's own (before Start and after it is joined: the
  // caller's).
  int fd_ = -1;
  std::string segment_path_;
  uint64_t segment_size_ = 0;
  uint64_t bytes_since_snapshot_ = 0;
  uint64_t total_written_ = 0;
  uint64_t last_written_lsn_;  // The last record written (or recovered).
};

}  // namespace taala::wal

#endif  // TAALA_SERVER_WAL_WAL_H_
