#include "server/policy_reloader.h"

#include <fstream>
#include <memory>
#include <sstream>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace taala {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path));
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat("cannot read ", path));
  }
  return bytes.str();
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
    return;
  }
  if (*bytes == last_bytes_) return;
  last_bytes_ = *bytes;
  absl::StatusOr<PolicySet> set = PolicySet::Parse(*bytes, limits_);
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
