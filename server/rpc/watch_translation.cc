#include "server/rpc/watch_translation.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/rpc/caller_views.h"
#include "server/rpc/translation.h"

namespace taala {
namespace {

int64_t UnixMs(absl::Time t) { return absl::ToUnixMillis(t); }

v1::WatchEvent::Type EndType(EndReason reason) {
  switch (reason) {
    case EndReason::kExpired:
    case EndReason::kOverflowed:
    case EndReason::kSessionRevoked:
      return v1::WatchEvent::EXPIRED;
    case EndReason::kRevoked:
    case EndReason::kForceReleased:
      return v1::WatchEvent::REVOKED;
    case EndReason::kUndone:
      return v1::WatchEvent::UNDONE;
    default:  // kReleased, kClosed, and any reason added later.
      return v1::WatchEvent::RELEASED;
  }
}

const char* OutcomeText(AcquireOutcome o) {
  switch (o) {
    case AcquireOutcome::kAcquired:
      return "acquired";
    case AcquireOutcome::kTimedOut:
      return "timed_out";
    case AcquireOutcome::kCancelled:
      return "cancelled";
    case AcquireOutcome::kDeadlock:
      return "deadlock";
    case AcquireOutcome::kFailed:
      return "failed";
  }
  return "failed";
}

}  // namespace

absl::StatusOr<WatchFilter> ToWatchFilter(const v1::WatchRequest& req,
                                          const KeyLimits& limits) {
  WatchFilter f;
  if (!req.key().empty() && !req.prefix().empty()) {
    return absl::InvalidArgumentError(
        "key and prefix: set at most one of them");
  }
  if (!req.key().empty()) {
    if (absl::Status s = ValidateKey(req.key(), limits); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("key: ", s.message()));
    }
    f.key = req.key();
  } else {
    if (absl::Status s =
            ValidateKeyPrefix("prefix", req.prefix(), limits.max_bytes);
        !s.ok()) {
      return s;
    }
    f.prefix = req.prefix();
  }
  return f;
}

void ToProto(const WatchRecord& r, v1::WatchEvent* out) {
  out->set_lsn(r.lsn);
  out->set_after_lsn(r.after_lsn);
  out->set_key(r.key);
  out->set_session_id(r.session_id);
  out->set_client_name(r.client_name);
  out->set_fencing_token(r.token);
  out->set_mode(ToProtoMode(r.mode));
  out->set_semaphore_size(r.semaphore_size);
  out->set_at_unix_ms(UnixMs(r.wall));
  out->set_upgrade(r.upgrade);
  out->set_caller(r.caller);
  switch (r.type) {
    case TransitionType::kGrantMade:
      out->set_type(v1::WatchEvent::GRANTED);
      break;
    case TransitionType::kGrantEnded:
      out->set_type(EndType(r.reason));
      out->set_reason(r.text.empty() ? EndReasonName(r.reason) : r.text);
      break;
    case TransitionType::kGrantRestored:
      out->set_type(v1::WatchEvent::RESTORED);
      break;
    case TransitionType::kLockDelayStarted:
      // The record carries the delay's end, not its start.
      out->set_type(v1::WatchEvent::LOCK_DELAY_STARTED);
      out->set_lock_delay_until_unix_ms(UnixMs(r.wall));
      out->clear_at_unix_ms();
      break;
    case TransitionType::kLockDelayEnded:
      out->set_type(v1::WatchEvent::LOCK_DELAY_ENDED);
      break;
    case TransitionType::kWaitStarted:
      out->set_type(v1::WatchEvent::WAITING);
      break;
    case TransitionType::kWaitEnded:
      out->set_type(v1::WatchEvent::WAIT_ENDED);
      out->set_outcome(OutcomeText(r.outcome));
      out->set_waited_ms(absl::ToInt64Milliseconds(r.waited));
      break;
    case TransitionType::kDeadlockRefused:
      out->set_type(v1::WatchEvent::DEADLOCK_REFUSED);
      out->set_reason(r.text);
      // Step i waits for its key, held (or queued ahead) by step i + 1.
      for (size_t i = 0; i < r.cycle.size(); ++i) {
        const WaitForGraph::Step& step = r.cycle[i];
        const WaitForGraph::Step& next = r.cycle[(i + 1) % r.cycle.size()];
        v1::WaitForEdge* e = out->add_cycle();
        e->set_waiter_session_id(step.waiter);
        e->set_waiter_client_name(step.waiter_name);
        e->set_blocker_session_id(next.waiter);
        e->set_blocker_client_name(next.waiter_name);
        e->set_key(step.key);
      }
      break;
    default:
      break;
  }
}

std::vector<v1::WatchResponse> SnapshotMessages(const WatchSnapshotState& s,
                                                size_t max_bytes) {
  std::vector<v1::WatchResponse> out;
  out.emplace_back().mutable_snapshot()->set_lsn(s.lsn);
  size_t bytes = 0;
  for (const auto& [key, k] : s.keys) {
    v1::WatchedKey wk;
    wk.set_key(key);
    for (const WatchedHolderState& h : k.holders) {
      v1::WatchedHolder* p = wk.add_holders();
      p->set_session_id(h.session_id);
      p->set_client_name(h.client_name);
      p->set_fencing_token(h.token);
      p->set_mode(ToProtoMode(h.mode));
      p->set_granted_at_unix_ms(UnixMs(h.granted_at));
    }
    for (const WatchedWaiterState& w : k.waiters) {
      v1::WatchedWaiter* p = wk.add_waiters();
      p->set_session_id(w.session_id);
      p->set_client_name(w.client_name);
      p->set_mode(ToProtoMode(w.mode));
      p->set_waiting_since_unix_ms(UnixMs(w.since));
    }
    wk.set_semaphore_size(k.semaphore_size);
    if (k.delay_until != absl::InfinitePast()) {
      wk.set_lock_delay_until_unix_ms(UnixMs(k.delay_until));
    }
    const size_t size = wk.ByteSizeLong();
    if (bytes > 0 && bytes + size > max_bytes) {
      out.emplace_back().mutable_snapshot()->set_lsn(s.lsn);
      bytes = 0;
    }
    bytes += size;
    *out.back().mutable_snapshot()->add_keys() = std::move(wk);
  }
  out.back().mutable_snapshot()->set_complete(true);
  return out;
}

void KeepCycleWithin(const WatchFilter& filter, v1::WatchEvent* event) {
  if (event->type() != v1::WatchEvent::DEADLOCK_REFUSED) return;
  auto* cycle = event->mutable_cycle();
  const int before = cycle->size();
  cycle->erase(std::remove_if(cycle->begin(), cycle->end(),
                              [&](const v1::WaitForEdge& e) {
                                return !filter.Matches(e.key());
                              }),
               cycle->end());
  if (cycle->size() == before) return;
  event->set_reason(std::string(
      WithoutForeignCycle(absl::AbortedError(event->reason())).message()));
}

}  // namespace taala
