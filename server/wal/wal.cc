#include "server/wal/wal.h"

#include <algorithm>
#include <unistd.h>

#include <cstdio>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/core/check.h"
#include "server/wal/coding.h"
#include "server/wal/crc32c.h"
#include "server/wal/files.h"
#include "server/wal/record_codec.h"
#include "server/wal/snapshot_file.h"

namespace taala::wal {
namespace {

void DefaultOnFatal(const std::string& message) {
  std::fprintf(stderr, "taalad: write-ahead log failed: %s\n",
               message.c_str());
  std::fflush(stderr);
  ::_exit(1);
}

}  // namespace

absl::StatusOr<Durability> ParseDurability(absl::string_view text) {
  if (text == "fsync") return Durability::kFsync;
  if (text == "async") return Durability::kAsync;
  if (text == "none") return Durability::kNone;
  return absl::InvalidArgumentError(absl::StrCat(
      "durability must be fsync, async or none, not \"", text, "\""));
}

const char* DurabilityName(Durability d) {
  switch (d) {
    case Durability::kFsync:
      return "fsync";
    case Durability::kAsync:
      return "async";
    case Durability::kNone:
      return "none";
  }
  return "unknown";
}

Wal::Wal(const WalOptions& options, const Recovered& recovered)
    : options_(options),
      log_files_(options.durability != Durability::kNone),
      last_lsn_(recovered.next_lsn - 1),
      issued_lsn_(recovered.next_lsn - 1),
      taken_lsn_(recovered.next_lsn - 1),
      reserved_(recovered.next_lsn - 1),
      durable_lsn_(recovered.next_lsn - 1),
      published_lsn_(recovered.next_lsn - 1),
      // 50 us to 10 s; and 1 to 64Ki records, by powers of 4.
      fsync_ns_({50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000,
                 5'000'000, 10'000'000, 25'000'000, 50'000'000, 100'000'000,
                 250'000'000, 500'000'000, 1'000'000'000, 2'500'000'000,
                 10'000'000'000}),
      batch_records_({1, 4, 16, 64, 256, 1024, 4096, 16384, 65536}),
      last_written_lsn_(recovered.last_log_lsn) {}

absl::StatusOr<std::unique_ptr<Wal>> Wal::Open(const WalOptions& options,
                                               const Recovered& recovered) {
  Recovered copy = recovered;
  absl::StatusOr<std::unique_ptr<Wal>> wal = Open(options, std::move(copy));
  if (wal.ok()) (*wal)->DoneWithRecoveredState();
  return wal;
}

void Wal::DoneWithRecoveredState() {
  TAALA_CHECK(!recovered_state_done_);  // REQUIRES: once.
  recovered_state_done_ = true;
  if (snapshotter_) {
    snapshotter_->SetBase(std::move(recovered_state_));
  }
  recovered_state_ = DurableState();
}

absl::StatusOr<std::unique_ptr<Wal>> Wal::Open(const WalOptions& options,
                                               Recovered&& recovered) {
  WalOptions opts = options;
  if (!opts.on_fatal) opts.on_fatal = DefaultOnFatal;
  if (opts.reserve_block < 2) opts.reserve_block = 2;
  if (recovered.next_lsn == 0) {
    return absl::InvalidArgumentError("next_lsn must be at least 1");
  }
  auto wal = std::unique_ptr<Wal>(new Wal(opts, recovered));
  const std::string& dir = opts.dir;
  absl::Status s = MakeDir(dir);
  if (s.ok() && wal->log_files_) s = MakeDir(WalDir(dir));
  if (!s.ok()) return s;
  // Left by a crash while writing one (a snapshot's can be large).
  if (absl::StatusOr<std::vector<std::string>> stale =
          RemoveStaleTempFiles(dir);
      !stale.ok()) {
    return stale.status();
  }
  // Moved, not copied: a million-key state took a tenth of a restart.
  DurableState& state = wal->recovered_state_;
  state = std::move(recovered.state);
  state.max_events = opts.max_events;
  if (!recovered.restore_sessions) {
    // The old log holds sessions this state dropped: supersede it.
    state.lsn = recovered.next_lsn - 1;
    if (s = WriteSnapshot(dir, state, state.lsn, false); !s.ok()) return s;
    if (s = wal->RemoveCoveredSegments(state.lsn); !s.ok()) return s;
    if (s = PruneSnapshots(dir, 2); !s.ok()) return s;
  }
  if (recovered.refuse_grants_for > absl::ZeroDuration()) {
    absl::Time until = recovered.refuse_grants_until;
    if (until == absl::InfinitePast()) {
      until = absl::Now() + recovered.refuse_grants_for;
    }
    int64_t ms = absl::ToUnixMillis(until);
    if (absl::FromUnixMillis(ms) < until) ++ms;  // Round up.
    const absl::Duration window = std::max(recovered.refuse_window,
                                           recovered.refuse_grants_for);
    s = WriteFileDurably(
        GrantsRefusedUntilPath(dir),
        absl::StrCat(ms, " ",
                     absl::ToInt64Milliseconds(absl::Ceil(
                         window, absl::Milliseconds(1))),
                     "\n"));
    if (!s.ok()) return s;
  }
  const uint64_t reserved = recovered.next_lsn - 1 + opts.reserve_block;
  s = WriteFileDurably(ReservationPath(dir), absl::StrCat(reserved, "\n"));
  if (s.ok()) {
    s = WriteFileDurably(RunStatePath(dir),
                         absl::StrCat(DurabilityName(opts.durability),
                                      " running\n"));
  }
  if (!s.ok()) return s;
  // The longest lease of THIS run starts as the longest restored one: a
  // long session of an earlier run that has ended must not stretch the
  // window after a crash of this one. (Any window still due is carried by
  // grants_refused_until, written above.)
  int64_t longest_ms = 0;
  for (const auto& [id, session] : state.sessions) {
    longest_ms = std::max(longest_ms,
                          absl::ToInt64Milliseconds(absl::Ceil(
                              session.ttl, absl::Milliseconds(1))));
  }
  s = WriteFileDurably(SessionTtlPath(dir), absl::StrCat(longest_ms, "\n"));
  if (!s.ok()) return s;
  {
    absl::MutexLock lock(&wal->ttl_mu_);
    wal->persisted_ttl_ms_ = longest_ms;
  }
  {
    absl::MutexLock lock(&wal->mu_);
    wal->reserved_ = reserved;
  }
  if (wal->log_files_) {
    wal->snapshotter_ = std::make_unique<Snapshotter>(dir, opts.on_fatal);
  }
  return wal;
}

Wal::~Wal() { Shutdown(/*drain=*/true); }

void Wal::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_ || closed_) return;
    started_ = true;
  }
  if (snapshotter_) snapshotter_->Start();
  callback_thread_ = std::thread([this] { CallbackLoop(); });
  writer_ = std::thread([this] { WriterLoop(); });
}

uint64_t Wal::Append(const Transition& t) {
  TAALA_CHECK(!IsObserverOnly(t.type));  // Never logged (transition.h).
  absl::MutexLock lock(&mu_);
  TAALA_CHECK(!closed_);  // REQUIRES: not closed.
  mu_.Await(absl::Condition(
      +[](Wal* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
        return w->last_lsn_ < w->reserved_ || w->failed_ || w->abandon_;
      },
      this));
  const uint64_t lsn = ++last_lsn_;
  issued_lsn_.store(lsn, std::memory_order_release);
  ++records_;
  if (failed_ || !log_files_) return lsn;  // Nothing more will be written.
  if (buffer_.empty()) buffer_first_lsn_ = lsn;
  buffer_last_lsn_ = lsn;
  ++buffer_records_;
  const size_t start = buffer_.size();
  buffer_.append(kFrameHeaderSize, '\0');
  EncodeTransitionAs(t, lsn, &buffer_);
  const absl::string_view payload =
      absl::string_view(buffer_).substr(start + kFrameHeaderSize);
  EncodeFixed32(&buffer_[start], static_cast<uint32_t>(payload.size()));
  EncodeFixed32(&buffer_[start + 4], Crc32c(payload));
  return lsn;
}

uint64_t Wal::TakeNumber() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](Wal* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
        return w->last_lsn_ < w->reserved_ || w->failed_ || w->abandon_;
      },
      this));
  issued_lsn_.store(last_lsn_ + 1, std::memory_order_release);
  return ++last_lsn_;
}

uint64_t Wal::LastLsn() const {
  return issued_lsn_.load(std::memory_order_acquire);
}

void Wal::WhenDurable(uint64_t lsn, absl::AnyInvocable<void()> fn) {
  // Outside fsync mode everything is durable at once and nothing is queued.
  if (options_.durability != Durability::kFsync ||
      published_lsn_.load(std::memory_order_acquire) >= lsn) {
    fn();
    return;
  }
  {
    absl::MutexLock lock(&durable_mu_);
    if (published_lsn_.load(std::memory_order_relaxed) < lsn) {
      // Durable but not yet published: the callback thread is running the
      // callbacks before it, and runs this one after them.
      callbacks_.emplace(lsn, std::move(fn));
      return;
    }
  }
  fn();
}

bool Wal::IsDurable(uint64_t lsn) const {
  return options_.durability != Durability::kFsync ||
         durable_lsn_.load(std::memory_order_acquire) >= lsn;
}

absl::Status Wal::NoteSessionTtl(absl::Duration ttl) {
  const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(ttl, absl::Milliseconds(1)));
  absl::MutexLock lock(&ttl_mu_);
  if (ms <= persisted_ttl_ms_) return absl::OkStatus();
  absl::Status s =
      WriteFileDurably(SessionTtlPath(options_.dir), absl::StrCat(ms, "\n"));
  if (s.ok()) persisted_ttl_ms_ = ms;
  return s;
}

void Wal::Shutdown(bool drain) {
  bool started;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    stopping_ = true;
    if (!drain) abandon_ = true;
    started = started_;
    started_ = true;  // A later Start does nothing.
  }
  if (writer_.joinable()) {
    writer_.join();
  } else if (!started && drain) {
    WriterLoop();  // Never started: drain on this thread.
  }
  // The writer has published its last LSN: the callbacks due run, then the
  // callback thread ends. Those for LSNs never made durable stay queued and
  // are dropped with the log.
  {
    absl::MutexLock lock(&durable_mu_);
    stop_callbacks_ = true;
  }
  if (callback_thread_.joinable()) {
    callback_thread_.join();
  } else if (!started && drain) {
    CallbackLoop();
  }
  if (snapshotter_) snapshotter_->Stop();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    segment_path_.clear();
  }
}

absl::Status Wal::Close(const DurableState* final_state,
                        uint64_t watch_floor) {
  {
    absl::MutexLock lock(&mu_);
    TAALA_CHECK(!closed_);  // REQUIRES: Close at most once.
  }
  Shutdown(/*drain=*/true);
  {
    absl::MutexLock lock(&mu_);
    if (failed_) {
      return absl::UnavailableError(
          "the write-ahead log failed earlier; the run is not clean");
    }
  }
  const std::string& dir = options_.dir;
  if (final_state != nullptr) {
    absl::Status s = WriteSnapshot(dir, *final_state, final_state->lsn,
                                   /*clean=*/true, watch_floor);
    if (s.ok()) s = RemoveCoveredSegments(final_state->lsn);
    if (s.ok()) s = PruneSnapshots(dir, 2);
    if (!s.ok()) return s;
  }
  if (!log_files_ && final_state == nullptr) return absl::OkStatus();
  return WriteFileDurably(
      RunStatePath(dir),
      absl::StrCat(DurabilityName(options_.durability), " clean\n"));
}

absl::Status Wal::RemoveCoveredSegments(uint64_t lsn) {
  // A segment's records are below the next segment's first LSN; the last
  // one's are at most last_written_lsn_ (this run's or the recovered log's
  // last record). Called with the writer thread stopped or not started.
  absl::StatusOr<std::vector<uint64_t>> firsts =
      ListNumbered(WalDir(options_.dir), ".log");
  if (!firsts.ok()) return firsts.status();
  const uint64_t last_record = last_written_lsn_;
  bool removed = false;
  for (size_t i = 0; i < firsts->size(); ++i) {
    const uint64_t end = i + 1 < firsts->size() ? (*firsts)[i + 1] - 1
                                                : last_record;
    if (end > lsn) break;
    const std::string path = SegmentPath(options_.dir, (*firsts)[i]);
    if (absl::Status s = RemoveFile(path); !s.ok()) return s;
    removed = true;
  }
  return removed ? FsyncDir(WalDir(options_.dir)) : absl::OkStatus();
}

Wal::Stats Wal::stats() const {
  Stats s;
  {
    absl::MutexLock lock(&stats_mu_);
    s = stats_;
  }
  {
    absl::MutexLock lock(&mu_);
    s.records = records_;
  }
  if (snapshotter_) s.snapshots = snapshotter_->snapshots_written();
  s.fsync_ns = fsync_ns_.Read();
  s.batch_records = batch_records_.Read();
  s.records_per_fsync =
      s.fsyncs == 0 ? 0 : static_cast<double>(s.records) / s.fsyncs;
  return s;
}

void Wal::FlushForTest() {
  std::pair<Wal*, uint64_t> arg(this, 0);
  {
    absl::MutexLock lock(&mu_);
    // Outside fsync mode only records make the writer publish.
    arg.second = options_.durability == Durability::kFsync ? last_lsn_
                 : log_files_                              ? buffer_last_lsn_
                                                           : 0;
  }
  {
    absl::MutexLock lock(&durable_mu_);
    durable_mu_.Await(absl::Condition(
        +[](std::pair<Wal*, uint64_t>* a)
            ABSL_EXCLUSIVE_LOCKS_REQUIRED(a->first->durable_mu_) {
              return a->first->published_lsn_.load(
                         std::memory_order_relaxed) >= a->second;
            },
        &arg));
  }
  if (snapshotter_) snapshotter_->WaitIdle();
}

void Wal::AbandonForTest() { Shutdown(/*drain=*/false); }

}  // namespace taala::wal
