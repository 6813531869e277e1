#include "server/wal/snapshotter.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/wal/coding.h"
#include "server/wal/files.h"
#include "server/wal/record_codec.h"
#include "server/wal/snapshot_file.h"

namespace taala::wal {

Snapshotter::Snapshotter(std::string dir,
                         std::function<void(const std::string&)> on_fatal)
    : dir_(std::move(dir)), on_fatal_(std::move(on_fatal)) {}

Snapshotter::~Snapshotter() { Stop(); }

void Snapshotter::Start() { thread_ = std::thread([this] { Loop(); }); }

void Snapshotter::SetBase(DurableState base) {
  absl::MutexLock lock(&mu_);
  // The thread reads state_ only after it has seen has_base_ under mu_.
  state_ = std::move(base);
  has_base_ = true;
}

void Snapshotter::Feed(std::string batch) {
  absl::MutexLock lock(&mu_);
  if (stop_) return;
  queue_.push_back(Item{std::move(batch), 0});
}

void Snapshotter::SnapshotBefore(uint64_t next_segment_first) {
  absl::MutexLock lock(&mu_);
  if (stop_) return;
  queue_.push_back(Item{std::string(), next_segment_first});
}

void Snapshotter::WaitIdle() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](Snapshotter* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
        return s->stop_ || (s->queue_.empty() && !s->busy_);
      },
      this));
}

void Snapshotter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    queue_.clear();
  }
  if (thread_.joinable()) thread_.join();
}

uint64_t Snapshotter::snapshots_written() const {
  absl::MutexLock lock(&mu_);
  return written_;
}

void Snapshotter::Loop() {
  while (true) {
    Item item;
    {
      absl::MutexLock lock(&mu_);
      busy_ = false;
      mu_.Await(absl::Condition(
          +[](Snapshotter* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
            return s->stop_ || (s->has_base_ && !s->queue_.empty());
          },
          this));
      if (stop_) return;
      item = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    absl::Status s =
        item.boundary == 0 ? Fold(item.batch) : Take(item.boundary);
    if (!s.ok()) {
      {
        absl::MutexLock lock(&mu_);
        stop_ = true;
        queue_.clear();
        busy_ = false;
      }
      on_fatal_(std::string(s.message()));
      return;
    }
    if (item.boundary != 0) {
      absl::MutexLock lock(&mu_);
      ++written_;
    }
  }
}

absl::Status Snapshotter::Fold(absl::string_view batch) {
  Transition t;
  size_t pos = 0;
  while (pos + kFrameHeaderSize <= batch.size()) {
    const uint32_t len = DecodeFixed32(batch.data() + pos);
    if (batch.size() - pos - kFrameHeaderSize < len ||
        !DecodeTransition(batch.substr(pos + kFrameHeaderSize, len), &t)) {
      return absl::InternalError(
          absl::StrCat("snapshot thread: a batch it was fed does not decode "
                       "at byte ", pos));
    }
    if (!state_.Apply(t)) {
      return absl::DataLossError(absl::StrCat(
          "snapshot thread: the record with LSN ", t.lsn,
          " does not fit the state (", TransitionToString(t),
          "); the log is not this state's history"));
    }
    pos += kFrameHeaderSize + len;
  }
  return absl::OkStatus();
}

absl::Status Snapshotter::Take(uint64_t boundary) {
  // Every record below `boundary` is in state_; numbers up to it that no
  // record took are covered too.
  if (state_.lsn < boundary - 1) state_.lsn = boundary - 1;
  absl::Status s = WriteSnapshot(dir_, state_, state_.lsn, /*clean=*/false);
  if (!s.ok()) return s;
  absl::StatusOr<std::vector<uint64_t>> firsts =
      ListNumbered(WalDir(dir_), ".log");
  if (!firsts.ok()) return firsts.status();
  bool removed = false;
  for (uint64_t first : *firsts) {
    if (first >= boundary) break;
    if (s = RemoveFile(SegmentPath(dir_, first)); !s.ok()) return s;
    removed = true;
  }
  if (removed) {
    if (s = FsyncDir(WalDir(dir_)); !s.ok()) return s;
  }
  return PruneSnapshots(dir_, 2);
}

}  // namespace taala::wal
