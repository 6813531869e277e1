// taala::Lock and taala::LockError (client/lock_client.h): a key taken and
// released through its Session, shaped for std::unique_lock.

#include "client/lock_client.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace taala {

LockError::LockError(absl::Status status)
    : std::runtime_error(status.ToString()), status_(std::move(status)) {}

Lock::Lock(Session& session, std::string key, AcquireOptions options)
    : session_(session), key_(std::move(key)), options_(options) {}

Lock::~Lock() {
  if (grant_.has_value()) unlock();
}

absl::Status Lock::Acquire(absl::Duration wait) {
  if (grant_.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("key \"", key_, "\" is already held by this Lock"));
  }
  AcquireOptions options = options_;
  options.wait = std::max(absl::ZeroDuration(), wait);
  absl::StatusOr<std::optional<LockGrant>> grant =
      session_.Acquire(key_, options);
  if (!grant.ok()) return grant.status();
  if (!grant->has_value()) {
    return absl::DeadlineExceededError(
        absl::StrCat("key \"", key_, "\" stayed held for ",
                     absl::FormatDuration(options.wait)));
  }
  grant_ = std::move(**grant);
  return absl::OkStatus();
}

absl::Status Lock::Release() {
  if (!grant_.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("key \"", key_, "\" is not held by this Lock"));
  }
  absl::Status status = session_.Release(*grant_);
  grant_.reset();
  return status;
}

void Lock::lock() {
  absl::Status status = Acquire(options_.wait);
  if (!status.ok()) throw LockError(std::move(status));
}

bool Lock::try_lock() { return TryLockFor(absl::ZeroDuration()); }

bool Lock::TryLockFor(absl::Duration wait) {
  absl::Status status = Acquire(wait);
  if (status.ok()) return true;
  if (absl::IsDeadlineExceeded(status)) return false;
  throw LockError(std::move(status));
}

void Lock::unlock() { last_unlock_status_ = Release(); }

uint64_t Lock::fencing_token() const {
  return grant_.has_value() ? grant_->fencing_token : 0;
}

bool Lock::owns_lock() const {
  return grant_.has_value() && !session_.lost() && !session_.Revoked(*grant_);
}

}  // namespace taala
