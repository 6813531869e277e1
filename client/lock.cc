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
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/key_table.h"
#include "client/session_impl.h"

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
  wait = std::max(absl::ZeroDuration(), wait);
  const absl::Time deadline = absl::Now() + wait;  // Infinite: never.
  Session::Impl& session = *session_.impl_;
  KeyTable& keys = session.keys();
  // Another Lock of the session on this key is like another process's.
  absl::StatusOr<KeyTable::Entered> entered = keys.Enter(
      this, key_, options_.shared && options_.semaphore_size == 0, deadline);
  if (absl::IsDeadlineExceeded(entered.status())) {
    return absl::DeadlineExceededError(
        absl::StrCat("key \"", key_, "\" stayed held for ",
                     absl::FormatDuration(wait), " (",
                     entered.status().message(), ")"));
  }
  if (!entered.ok()) return entered.status();
  if (entered->joined.has_value()) {  // A SHARED grant of the session.
    grant_ = std::move(entered->joined);
    return absl::OkStatus();
  }
  AcquireOptions options = options_;
  options.wait = wait == absl::InfiniteDuration()
                     ? wait
                     : std::max(absl::ZeroDuration(), deadline - absl::Now());
  absl::StatusOr<Session::Impl::Answer> answer =
      session.AcquireOnServer(key_, options);
  if (!answer.ok()) {
    keys.NotGranted(key_, OutcomeUnknown(answer.status()));
    return answer.status();
  }
  if (!answer->grant.has_value()) {
    keys.NotGranted(key_, /*outcome_unknown=*/false);
    return absl::DeadlineExceededError(
        absl::StrCat("key \"", key_, "\" stayed held for ",
                     absl::FormatDuration(wait)));
  }
  // already_held is expected only where an earlier call's answer was lost
  // (a retry of this call, or a call on this key that got no answer).
  if (answer->already_held && answer->attempts == 1 &&
      !entered->may_be_held) {
    keys.NotGranted(key_, /*outcome_unknown=*/false);
    return absl::FailedPreconditionError(absl::StrCat(
        "session ", session.id(), " already holds key \"", key_,
        "\" outside any taala::Lock (through Session::Acquire?); a Lock "
        "never shares a grant it did not take"));
  }
  keys.Granted(this, key_, *answer->grant);
  grant_ = std::move(answer->grant);
  // Revoked before the answer got here: the key is free for other Locks.
  if (session.Revoked(grant_->fencing_token)) {
    keys.Revoked(key_, grant_->fencing_token);
  }
  return absl::OkStatus();
}

absl::Status Lock::Release() {
  if (!grant_.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("key \"", key_, "\" is not held by this Lock"));
  }
  const LockGrant grant = *std::move(grant_);
  grant_.reset();
  Session::Impl& session = *session_.impl_;
  switch (session.keys().Leave(this, key_)) {
    case KeyTable::Left::kShared:  // Other SHARED Locks still hold it.
      return absl::OkStatus();
    case KeyTable::Left::kNotOwner:  // Revoked: the server says so.
      return session.ReleaseOnServer(grant);
    case KeyTable::Left::kLast:
      break;
  }
  absl::Status status = session.ReleaseOnServer(grant);
  session.keys().Released(key_, OutcomeUnknown(status));
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
