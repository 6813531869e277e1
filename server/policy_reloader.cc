#include "server/policy_reloader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace taala {
namespace {

// The file's bytes. Anything but a regular file is refused: a directory
// would read as empty (zero policies), and a FIFO would block the reloader
// (and taalad's shutdown) until a writer came. O_NONBLOCK keeps the open
// itself from waiting on a FIFO.
absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::DataLossError(
        absl::StrCat("cannot stat ", path, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a regular file"));
  }
  std::string bytes;
  char buf[64 * 1024];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::DataLossError(
          absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
    }
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
    if (bytes.size() > kMaxPolicyFileBytes) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is larger than ", kMaxPolicyFileBytes,
                       " bytes (the limit)"));
    }
  }
  // A file truncated in place (a shell's `>`, an editor saving without a
  // rename) is empty for a moment: never "no policies".
  if (bytes.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " is an empty file; write a comment line to mean no policies"));
  }
  return bytes;
}

}  // namespace

PolicyReloader::PolicyReloader(std::string file, PolicyLimits limits,
                               PolicyHolder* holder)
    : file_(std::move(file)), limits_(limits), holder_(holder) {}

PolicyReloader::~PolicyReloader() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status PolicyReloader::LoadInitial() {
  absl::StatusOr<std::string> bytes = ReadFile(file_);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<PolicySet> set = PolicySet::Parse(*bytes, limits_);
  if (!set.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ": ", set.status().message()));
  }
  auto state = std::make_shared<PolicyState>();
  state->set = std::make_shared<const PolicySet>(*std::move(set));
  state->file = file_;
  state->loaded_at = absl::Now();
  state->generation = 1;
  const size_t count = state->set->policies().size();
  holder_->Set(std::move(state));
  last_bytes_ = *std::move(bytes);
  spdlog::info("loaded {} lock policies from {}", count, file_);
  return absl::OkStatus();
}

void PolicyReloader::Start(absl::Duration interval) {
  thread_ = std::thread([this, interval] { Run(interval); });
}

void PolicyReloader::Run(absl::Duration interval) {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stopped = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stop_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&stopped), interval);
      if (stop_) return;
    }
    Poll();
  }
}

void PolicyReloader::Poll() {
  absl::StatusOr<std::string> bytes = ReadFile(file_);
  if (!bytes.ok()) {
    // The file may be replaced by a rename any moment now; until then, the
    // policies stay. Logged once, not every poll.
    Refuse(std::string(bytes.status().message()));
    last_bytes_.reset();  // Whatever comes back is a change.
    pending_bytes_.reset();
    return;
  }
  if (*bytes == last_bytes_) return;
  // Loaded only once two polls in a row read the same bytes: a file being
  // written in place is not loaded while it changes between polls.
  if (*bytes != pending_bytes_) {
    pending_bytes_ = *std::move(bytes);
    return;
  }
  pending_bytes_.reset();
  last_bytes_ = *std::move(bytes);
  absl::StatusOr<PolicySet> set = PolicySet::Parse(*last_bytes_, limits_);
  if (!set.ok()) {
    Refuse(std::string(set.status().message()));
    return;
  }
  std::shared_ptr<const PolicyState> old = holder_->Share();
  auto state = std::make_shared<PolicyState>();
  state->set = std::make_shared<const PolicySet>(*std::move(set));
  state->file = file_;
  state->loaded_at = absl::Now();
  state->generation = old->generation + 1;
  const size_t count = state->set->policies().size();
  const uint64_t generation = state->generation;
  last_error_.clear();
  spdlog::info("reloaded {} lock policies from {} (generation {})", count,
               file_, generation);
  holder_->Set(std::move(state));
}

void PolicyReloader::Refuse(const std::string& error) {
  if (error == last_error_) return;
  last_error_ = error;
  std::shared_ptr<const PolicyState> old = holder_->Share();
  // Logged before it shows in GetPolicies: whoever sees the one finds the
  // other.
  spdlog::error(
      "lock policies: refused {}: {}; the {} policies loaded before stay in "
      "force",
      file_, error, old->set->policies().size());
  auto state = std::make_shared<PolicyState>(*old);
  state->last_error = error;
  state->last_error_at = absl::Now();
  holder_->Set(std::move(state));
}

}  // namespace taala
