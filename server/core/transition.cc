#include "server/core/transition.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/core/check.h"
#include "server/core/key.h"

namespace taala {

bool Transition::operator==(const Transition& o) const {
  return type == o.type && lsn == o.lsn && session_id == o.session_id &&
         key == o.key && token == o.token && mode == o.mode &&
         semaphore_size == o.semaphore_size && reason == o.reason &&
         upgrade == o.upgrade && wall == o.wall && ttl == o.ttl &&
         max_hold == o.max_hold && lock_delay == o.lock_delay &&
         client_name == o.client_name && labels == o.labels &&
         event_sequence == o.event_sequence && event_type == o.event_type &&
         text == o.text && requester_session_id == o.requester_session_id &&
         requester_client_name == o.requester_client_name &&
         caller == o.caller && owner == o.owner;
}

MemoryLog::MemoryLog(uint64_t first_lsn) : last_lsn_(first_lsn - 1) {}

void MemoryLog::set_tap(std::function<void(const Transition&)> tap) {
  absl::MutexLock lock(&mu_);
  tap_ = std::move(tap);
}

uint64_t MemoryLog::Append(const Transition& t) {
  TAALA_CHECK(!IsObserverOnly(t.type));  // Never logged (transition.h).
  absl::MutexLock lock(&mu_);
  const uint64_t lsn = ++last_lsn_;
  if (tap_) {
    Transition copy = t;
    copy.lsn = lsn;
    tap_(copy);
  }
  return lsn;
}

uint64_t MemoryLog::TakeNumber() {
  absl::MutexLock lock(&mu_);
  return ++last_lsn_;
}

uint64_t MemoryLog::LastLsn() const {
  absl::MutexLock lock(&mu_);
  return last_lsn_;
}

void MemoryLog::WhenDurable(uint64_t, absl::AnyInvocable<void()> fn) {
  fn();
}

bool MemoryLog::IsDurable(uint64_t) const { return true; }

const char* TransitionTypeName(TransitionType type) {
  switch (type) {
    case TransitionType::kSessionCreated:
      return "SESSION_CREATED";
    case TransitionType::kSessionEnded:
      return "SESSION_ENDED";
    case TransitionType::kGrantMade:
      return "GRANT_MADE";
    case TransitionType::kGrantEnded:
      return "GRANT_ENDED";
    case TransitionType::kGrantRestored:
      return "GRANT_RESTORED";
    case TransitionType::kLockDelayStarted:
      return "LOCK_DELAY_STARTED";
    case TransitionType::kLockDelayEnded:
      return "LOCK_DELAY_ENDED";
    case TransitionType::kEventPosted:
      return "EVENT_POSTED";
    case TransitionType::kWaitStarted:
      return "WAIT_STARTED";
    case TransitionType::kWaitEnded:
      return "WAIT_ENDED";
    case TransitionType::kDeadlockRefused:
      return "DEADLOCK_REFUSED";
    case TransitionType::kAcquireRefused:
      return "ACQUIRE_REFUSED";
  }
  return "UNKNOWN";
}

const char* EndReasonName(EndReason reason) {
  switch (reason) {
    case EndReason::kNone:
      return "none";
    case EndReason::kReleased:
      return "released";
    case EndReason::kExpired:
      return "expired";
    case EndReason::kRevoked:
      return "revoked";
    case EndReason::kUndone:
      return "undone";
    case EndReason::kClosed:
      return "closed";
    case EndReason::kOverflowed:
      return "overflowed";
    case EndReason::kForceReleased:
      return "force_released";
    case EndReason::kSessionRevoked:
      return "session_revoked";
  }
  return "unknown";
}

const char* AcquireOutcomeName(AcquireOutcome outcome) {
  switch (outcome) {
    case AcquireOutcome::kAcquired:
      return "acquired";
    case AcquireOutcome::kTimedOut:
      return "timed out";
    case AcquireOutcome::kCancelled:
      return "cancelled";
    case AcquireOutcome::kDeadlock:
      return "deadlock";
    case AcquireOutcome::kFailed:
      return "failed";
  }
  return "unknown";
}

std::string TransitionToString(const Transition& t) {
  std::string out = absl::StrCat(TransitionTypeName(t.type), " lsn=", t.lsn,
                                 " at=", absl::FormatTime(t.wall));
  // Every string from a client or an operator is escaped (control
  // characters, and '"' and '\\' in quotes): one record stays one line and
  // no text can end its field and forge others (the audit trail).
  auto key = [&] {
    absl::StrAppend(&out, " key=\"", EscapeControl(t.key), "\"");
  };
  // The audit trail of an operator's action (AdminService).
  auto audit = [&] {
    if (!t.caller.empty() || !t.text.empty()) {
      absl::StrAppend(&out, " reason_text=\"", EscapeControl(t.text),
                      "\" caller=\"", EscapeControl(t.caller), "\"");
    }
  };
  switch (t.type) {
    case TransitionType::kSessionCreated:
      absl::StrAppend(&out, " session=", t.session_id, " owner=\"",
                      EscapeControl(t.owner), "\" client=\"",
                      EscapeControl(t.client_name),
                      "\" ttl=", absl::FormatDuration(t.ttl));
      for (const auto& [k, v] : t.labels) {
        absl::StrAppend(&out, " label:\"", EscapeControl(k), "\"=\"",
                        EscapeControl(v), "\"");
      }
      break;
    case TransitionType::kSessionEnded:
      absl::StrAppend(&out, " session=", t.session_id,
                      " reason=", EndReasonName(t.reason));
      audit();
      break;
    case TransitionType::kGrantMade:
      key();
      absl::StrAppend(&out, " session=", t.session_id, " token=", t.lsn,
                      " mode=", LockModeName(t.mode));
      if (t.semaphore_size > 0) {
        absl::StrAppend(&out, " semaphore=", t.semaphore_size);
      }
      absl::StrAppend(&out, " max_hold=", absl::FormatDuration(t.max_hold),
                      " lock_delay=", absl::FormatDuration(t.lock_delay));
      if (t.upgrade) absl::StrAppend(&out, " upgrade");
      break;
    case TransitionType::kGrantEnded:
      key();
      absl::StrAppend(&out, " session=", t.session_id, " token=", t.token,
                      " reason=", EndReasonName(t.reason));
      audit();
      break;
    case TransitionType::kGrantRestored:
      key();
      absl::StrAppend(&out, " session=", t.session_id, " token=", t.token,
                      " mode=", LockModeName(t.mode),
                      " max_hold=", absl::FormatDuration(t.max_hold),
                      " lock_delay=", absl::FormatDuration(t.lock_delay));
      break;
    case TransitionType::kLockDelayStarted:
      key();
      absl::StrAppend(&out, " after=", LockModeName(t.mode));
      break;
    case TransitionType::kLockDelayEnded:
      key();
      break;
    case TransitionType::kEventPosted:
      absl::StrAppend(&out, " session=", t.session_id,
                      " sequence=", t.event_sequence,
                      " event=", static_cast<int>(t.event_type));
      if (!t.key.empty()) key();
      if (t.token != 0) absl::StrAppend(&out, " token=", t.token);
      absl::StrAppend(&out, " text=\"", EscapeControl(t.text), "\"");
      if (t.requester_session_id != 0) {
        absl::StrAppend(&out, " requester=", t.requester_session_id,
                        " requester_client=\"",
                        EscapeControl(t.requester_client_name), "\"");
      }
      break;
    case TransitionType::kWaitStarted:
    case TransitionType::kWaitEnded:
    case TransitionType::kDeadlockRefused:
    case TransitionType::kAcquireRefused:
      key();
      absl::StrAppend(&out, " session=", t.session_id);
      if (t.type != TransitionType::kWaitStarted) {
        absl::StrAppend(&out, " outcome=", AcquireOutcomeName(t.outcome),
                        " waited=", absl::FormatDuration(t.waited));
      }
      break;
  }
  return out;
}

}  // namespace taala
