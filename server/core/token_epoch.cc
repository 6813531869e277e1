#include "server/core/token_epoch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace taala {
namespace {

constexpr uint64_t kMaxEpoch = (uint64_t{1} << 24) - 1;

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status FsyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) return ErrnoError("cannot open", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return ErrnoError("cannot fsync", path);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<uint64_t> NextTokenEpoch(const std::string& data_dir) {
  if (::mkdir(data_dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return ErrnoError("cannot create data directory", data_dir);
  }
  const std::string path = data_dir + "/token_epoch";
  uint64_t previous = 0;
  {
    std::ifstream in(path);
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      std::string content = text.str();
      absl::string_view trimmed = absl::StripAsciiWhitespace(content);
      if (!absl::SimpleAtoi(trimmed, &previous)) {
        return absl::DataLossError(absl::StrCat(
            path, " is corrupt (expected a number, found \"", trimmed,
            "\"); refusing to start, since fencing tokens could repeat"));
      }
    }
  }
  if (previous >= kMaxEpoch) {
    return absl::ResourceExhaustedError(
        absl::StrCat(path, ": token epochs are used up"));
  }
  const uint64_t next = previous + 1;
  const std::string tmp = path + ".tmp";
  {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (fd < 0) return ErrnoError("cannot write", tmp);
    const std::string text = absl::StrCat(next, "\n");
    const bool ok = ::write(fd, text.data(), text.size()) ==
                        static_cast<ssize_t>(text.size()) &&
                    ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return ErrnoError("cannot write", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return ErrnoError("cannot rename into", path);
  }
  if (absl::Status s = FsyncPath(data_dir, O_RDONLY | O_DIRECTORY); !s.ok()) {
    return s;
  }
  return next;
}

}  // namespace taala
