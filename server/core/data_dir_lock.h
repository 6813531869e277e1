// File: server/core/data_dir_lock.h
// -----------------------------------------------------------------------------
// One daemon per data directory. Two daemons sharing one directory would
// each believe its state is the only state (two writers of one
// write-ahead log), so the first takes an exclusive flock on
// `<data_dir>/LOCK` and keeps it for its whole life; the file holds its pid
// so the second can say who is in the way. The lock is the flock, not the
// file: it ends with the process however the process ends, and a LOCK file
// left behind by a dead daemon stops nobody.

#ifndef TAALA_SERVER_CORE_DATA_DIR_LOCK_H_
#define TAALA_SERVER_CORE_DATA_DIR_LOCK_H_

#include <string>

#include "absl/status/statusor.h"

namespace taala {

class DataDirLock {
 public:
  // Creates `data_dir` if needed and locks it. FAILED_PRECONDITION naming
  // the lock file and the holder's pid if another process holds it;
  // UNAVAILABLE if the directory or file cannot be made or opened.
  static absl::StatusOr<DataDirLock> Acquire(const std::string& data_dir);

  DataDirLock(DataDirLock&& other) noexcept;
  DataDirLock& operator=(DataDirLock&& other) noexcept;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock();  // Unlocks.

  const std::string& path() const { return path_; }

 private:
  DataDirLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

}  // namespace taala

#endif  // TAALA_SERVER_CORE_DATA_DIR_LOCK_H_
