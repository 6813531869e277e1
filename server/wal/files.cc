#include "server/wal/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/wal/coding.h"
#include "server/wal/crc32c.h"

namespace taala::wal {
namespace {

std::string Numbered(const std::string& dir, uint64_t n,
                     absl::string_view suffix) {
  return absl::StrFormat("%s/%020u%s", dir, n, suffix);
}

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::string WalDir(const std::string& dir) { return dir + "/wal"; }
std::string SnapshotDir(const std::string& dir) { return dir + "/snapshot"; }
std::string SegmentPath(const std::string& dir, uint64_t first_lsn) {
  return Numbered(WalDir(dir), first_lsn, ".log");
}
std::string SnapshotPath(const std::string& dir, uint64_t lsn) {
  return Numbered(SnapshotDir(dir), lsn, ".snap");
}
std::string ReservationPath(const std::string& dir) {
  return dir + "/lsn_reserved";
}
std::string SessionTtlPath(const std::string& dir) {
  return dir + "/max_session_ttl";
}
std::string RunStatePath(const std::string& dir) { return dir + "/run_state"; }
std::string GrantsRefusedUntilPath(const std::string& dir) {
  return dir + "/grants_refused_until";
}
std::string TokenEpochPath(const std::string& dir) {
  return dir + "/token_epoch";
}

uint32_t SegmentChainValue(uint64_t previous_last_lsn) {
  return static_cast<uint32_t>(previous_last_lsn & 0xFFFFFFFFu);
}

std::string SegmentHeader(uint64_t previous_last_lsn) {
  std::string h(kSegmentMagic, 8);
  PutFixed32(&h, kSegmentVersion);
  PutFixed32(&h, SegmentChainValue(previous_last_lsn));
  return h;
}

void AppendFrame(absl::string_view payload, std::string* out) {
  PutFixed32(out, static_cast<uint32_t>(payload.size()));
  PutFixed32(out, Crc32c(payload));
  out->append(payload.data(), payload.size());
}

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0750) == 0) return FsyncDir(Parent(path));
  if (errno == EEXIST) return absl::OkStatus();
  return ErrnoError("cannot create directory", path);
}

absl::Status FsyncDir(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open directory", path);
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  errno = saved;
  if (rc != 0) return ErrnoError("cannot fsync directory", path);
  return absl::OkStatus();
}

absl::Status WriteFileDurably(const std::string& path,
                              absl::string_view contents) {
  const std::string tmp = path + ".tmp";
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoError("cannot create", tmp);
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const absl::Status s = ErrnoError("cannot write", tmp);
      ::close(fd);
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const absl::Status s = ErrnoError("cannot fsync", tmp);
    ::close(fd);
    return s;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return ErrnoError("cannot rename into", path);
  }
  return FsyncDir(Parent(path));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(path + " does not exist");
    return ErrnoError("cannot open", path);
  }
  std::string out;
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const absl::Status s = ErrnoError("cannot read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

absl::StatusOr<uint64_t> ReadNumberFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  uint64_t n;
  absl::string_view trimmed = absl::StripAsciiWhitespace(*text);
  if (!absl::SimpleAtoi(trimmed, &n)) {
    return absl::DataLossError(absl::StrCat(
        path, " is corrupt (expected a number, found \"", trimmed, "\")"));
  }
  return n;
}

absl::StatusOr<std::vector<uint64_t>> ListNumbered(const std::string& dir,
                                                   absl::string_view suffix) {
  std::vector<uint64_t> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return out;
    return ErrnoError("cannot list", dir);
  }
  while (struct dirent* e = ::readdir(d)) {
    absl::string_view name = e->d_name;
    if (name.size() != 20 + suffix.size() || !absl::EndsWith(name, suffix)) {
      continue;
    }
    uint64_t n;
    absl::string_view digits = name.substr(0, 20);
    if (std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) &&
        absl::SimpleAtoi(digits, &n)) {
      out.push_back(n);
    }
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoError("cannot remove", path);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> RemoveStaleTempFiles(
    const std::string& dir) {
  std::vector<std::string> removed;
  const std::string snapshots = SnapshotDir(dir);
  std::vector<std::string> in_snapshots;
  if (DIR* d = ::opendir(snapshots.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      absl::string_view name = e->d_name;
      if (absl::EndsWith(name, ".tmp")) {
        in_snapshots.push_back(absl::StrCat(snapshots, "/", name));
      }
    }
    ::closedir(d);
  } else if (errno != ENOENT) {
    return ErrnoError("cannot list", snapshots);
  }
  for (const std::string& path : in_snapshots) {
    if (absl::Status s = RemoveFile(path); !s.ok()) return s;
    removed.push_back(path);
  }
  if (!in_snapshots.empty()) {
    if (absl::Status s = FsyncDir(snapshots); !s.ok()) return s;
  }
  bool top = false;
  for (const std::string& file :
       {ReservationPath(dir), SessionTtlPath(dir), RunStatePath(dir),
        GrantsRefusedUntilPath(dir), TokenEpochPath(dir)}) {
    const std::string tmp = file + ".tmp";
    if (!FileExists(tmp)) continue;
    if (absl::Status s = RemoveFile(tmp); !s.ok()) return s;
    removed.push_back(tmp);
    top = true;
  }
  if (top) {
    if (absl::Status s = FsyncDir(dir); !s.ok()) return s;
  }
  return removed;
}

absl::Status TruncateFile(const std::string& path, uint64_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path);
  absl::Status s;
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    s = ErrnoError("cannot truncate", path);
  } else if (::fsync(fd) != 0) {
    s = ErrnoError("cannot fsync", path);
  }
  ::close(fd);
  return s;
}

}  // namespace taala::wal
