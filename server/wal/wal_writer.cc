// The Wal's writer thread (group commit, segment rotation, reservation
// renewal) and its callback thread. Everything the writer touches here
// except the mutex-guarded hand-offs is the writer thread's own state.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/wal/files.h"
#include "server/wal/wal.h"

namespace taala::wal {

bool Wal::NeedRenewalLocked() const {
  return reserved_ < last_lsn_ + options_.reserve_block / 2;
}

bool Wal::WriterHasWorkLocked() const {
  // Numbers without records need a pass only where someone may wait for
  // them (fsync mode); none mode wakes only to renew the reservation.
  return abandon_ || failed_ || stopping_ || !buffer_.empty() ||
         (options_.durability == Durability::kFsync &&
          last_lsn_ > taken_lsn_) ||
         NeedRenewalLocked();
}

void Wal::WriterLoop() {
  while (true) {
    std::string batch;
    uint64_t first = 0, last_record = 0, upto = 0, renew_to = 0;
    uint64_t records = 0;
    bool renew = false, stop = false;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &Wal::WriterHasWorkLocked));
      if (abandon_ || failed_) return;
      batch.swap(buffer_);
      first = buffer_first_lsn_;
      buffer_first_lsn_ = 0;
      last_record = buffer_last_lsn_;
      records = buffer_records_;
      buffer_records_ = 0;
      upto = taken_lsn_ = last_lsn_;
      renew = NeedRenewalLocked() && !stopping_;
      renew_to = last_lsn_ + options_.reserve_block;
      stop = stopping_;
    }
    if (renew) {
      // Appends past reserved_ wait for this; the batch's LSNs are below it.
      const std::string path = ReservationPath(options_.dir);
      absl::Status s = WriteFileDurably(path, absl::StrCat(renew_to, "\n"));
      if (!s.ok()) return Fatal(std::string(s.message()));
      absl::MutexLock lock(&mu_);
      if (renew_to > reserved_) reserved_ = renew_to;
    }
    if (!batch.empty()) {
      absl::Status s = WriteBatch(batch, first, records);
      if (!s.ok()) return Fatal(std::string(s.message()));
      last_written_lsn_ = last_record;
    }
    // Fed before publishing, so that whoever sees the batch durable finds
    // it queued for the snapshot thread (FlushForTest relies on it).
    if (snapshotter_ && !batch.empty()) snapshotter_->Feed(std::move(batch));
    Publish(upto);
    if (stop) return;
  }
}

absl::Status Wal::WriteBatch(const std::string& batch, uint64_t first_lsn,
                             uint64_t records) {
  const bool full = fd_ >= 0 && segment_size_ >= options_.segment_bytes;
  // A segment that fills up more than half way to the next snapshot takes
  // the snapshot with it, so that segments do not pile up between them.
  const bool snapshot_due =
      snapshotter_ != nullptr && fd_ >= 0 &&
      (bytes_since_snapshot_ >= options_.snapshot_every_bytes ||
       (full && bytes_since_snapshot_ >= options_.snapshot_every_bytes / 2));
  if (fd_ < 0 || full || snapshot_due) {
    if (absl::Status s = StartSegment(first_lsn); !s.ok()) return s;
    if (snapshot_due) {
      // The snapshot covers everything before this segment; the snapshot
      // thread removes the older segments once it is written.
      snapshotter_->SnapshotBefore(first_lsn);
      bytes_since_snapshot_ = 0;
    }
  }
  if (absl::Status s = WriteAll(segment_path_, batch.data(), batch.size());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Sync(segment_path_); !s.ok()) return s;
  segment_size_ += batch.size();
  bytes_since_snapshot_ += batch.size();
  batch_records_.Observe(records);
  absl::MutexLock lock(&stats_mu_);
  ++stats_.batches;
  stats_.bytes_written += batch.size();
  return absl::OkStatus();
}

absl::Status Wal::StartSegment(uint64_t first_lsn) {
  if (fd_ >= 0) ::close(fd_);
  segment_path_ = SegmentPath(options_.dir, first_lsn);
  fd_ = ::open(segment_path_.c_str(),
               O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0) return ErrnoError("cannot create log segment", segment_path_);
  const std::string header = SegmentHeader(last_written_lsn_);
  absl::Status s = WriteAll(segment_path_, header.data(), header.size());
  if (s.ok()) s = Sync(segment_path_);
  if (s.ok()) s = FsyncDir(WalDir(options_.dir));
  if (!s.ok()) return s;
  segment_size_ = header.size();
  absl::MutexLock lock(&stats_mu_);
  ++stats_.segments_created;
  stats_.bytes_written += header.size();
  return absl::OkStatus();
}

absl::Status Wal::WriteAll(const std::string& path, const char* data,
                           size_t size) {
  size_t done = 0;
  while (done < size) {
    size_t want = size - done;
    const int64_t limit = options_.fail_write_after_bytes;
    if (limit >= 0 && total_written_ + want > static_cast<uint64_t>(limit)) {
      want = static_cast<uint64_t>(limit) > total_written_
                 ? static_cast<uint64_t>(limit) - total_written_
                 : 0;
      if (want == 0) {
        errno = ENOSPC;  // Injected.
        return ErrnoError("cannot write log segment", path);
      }
    }
    const ssize_t n = ::write(fd_, data + done, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot write log segment", path);
    done += static_cast<size_t>(n);
    total_written_ += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status Wal::Sync(const std::string& path) {
  const absl::Time start = absl::Now();
  int rc;
  if (options_.fail_fsync) {
    errno = EIO;  // Injected.
    rc = -1;
  } else {
    rc = ::fdatasync(fd_);
  }
  // Never retried: after a failed fsync the page cache may have dropped the
  // data, and a later success would prove nothing.
  if (rc != 0) return ErrnoError("cannot fsync log segment", path);
  const absl::Duration took = absl::Now() - start;
  fsync_ns_.Observe(static_cast<uint64_t>(absl::ToInt64Nanoseconds(took)));
  absl::MutexLock lock(&stats_mu_);
  ++stats_.fsyncs;
  stats_.fsync_total += took;
  if (took > stats_.fsync_max) stats_.fsync_max = took;
  return absl::OkStatus();
}

void Wal::Publish(uint64_t lsn) {
  // The callback thread runs what is due: the writer goes on to the next
  // batch at once, and a callback that appends never waits for it.
  absl::MutexLock lock(&durable_mu_);
  if (lsn > durable_lsn_.load(std::memory_order_relaxed)) {
    durable_lsn_.store(lsn, std::memory_order_release);
  }
}

bool Wal::CallbacksHaveWorkLocked() const {
  const uint64_t durable = durable_lsn_.load(std::memory_order_relaxed);
  return stop_callbacks_ ||
         published_lsn_.load(std::memory_order_relaxed) < durable ||
         (!callbacks_.empty() && callbacks_.begin()->first <= durable);
}

void Wal::CallbackLoop() {
  while (true) {
    std::vector<absl::AnyInvocable<void()>> due;
    uint64_t upto = 0;
    {
      absl::MutexLock lock(&durable_mu_);
      durable_mu_.Await(
          absl::Condition(this, &Wal::CallbacksHaveWorkLocked));
      upto = durable_lsn_.load(std::memory_order_relaxed);
      auto end = callbacks_.upper_bound(upto);
      for (auto it = callbacks_.begin(); it != end; ++it) {
        due.push_back(std::move(it->second));
      }
      callbacks_.erase(callbacks_.begin(), end);
      if (due.empty()) {
        // Everything due up to `upto` has run (a callback queued while the
        // last ones ran would have been taken above).
        if (upto > published_lsn_.load(std::memory_order_relaxed)) {
          published_lsn_.store(upto, std::memory_order_release);
        }
        if (stop_callbacks_) return;
        continue;
      }
    }
    for (auto& fn : due) fn();  // In LSN order, outside every mutex.
    due.clear();  // Destroyed outside every mutex too.
  }
}

void Wal::Fatal(const std::string& message) {
  {
    absl::MutexLock lock(&mu_);
    failed_ = true;
    buffer_.clear();
  }
  options_.on_fatal(message);
}

}  // namespace taala::wal
