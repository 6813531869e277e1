#include "server/rpc/proto_convert.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/wire_time.h"

namespace taala {
absl::StatusOr<LockMode> FromProtoMode(int mode) {
  switch (mode) {
    case v1::LOCK_MODE_UNSPECIFIED:
    case v1::LOCK_MODE_EXCLUSIVE:
      return LockMode::kExclusive;
    case v1::LOCK_MODE_SHARED:
      return LockMode::kShared;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("mode: unknown value ", mode));
  }
}

v1::LockMode ToProtoMode(LockMode mode) {
  return mode == LockMode::kShared ? v1::LOCK_MODE_SHARED
                                   : v1::LOCK_MODE_EXCLUSIVE;
}

void ToProto(const Grant& grant, absl::Time now, v1::Grant* out) {
  out->set_key(grant.key);
  out->set_session_id(grant.session_id);
  out->set_fencing_token(grant.token);
  out->set_mode(ToProtoMode(grant.mode));
  out->set_held_for_ms(DurationToMs(now - grant.granted_at));
  if (grant.revoke_at != absl::InfiniteFuture()) {
    // At least 1 so that "0 = no limit" stays unambiguous.
    out->set_max_hold_remaining_ms(
        std::max<int64_t>(1, DurationToMs(grant.revoke_at - now)));
  }
}

void ToProto(const SessionEvent& event, v1::SessionEvent* out) {
  switch (event.type) {
    case SessionEvent::Type::kGrantRevoked:
      out->set_type(v1::SessionEvent::GRANT_REVOKED);
      break;
    case SessionEvent::Type::kSessionExpired:
      out->set_type(v1::SessionEvent::SESSION_EXPIRED);
      break;
    case SessionEvent::Type::kReleaseRequested:
      out->set_type(v1::SessionEvent::RELEASE_REQUESTED);
      out->set_requester_session_id(event.requester_session_id);
      out->set_requester_client_name(event.requester_client_name);
      break;
  }
  out->set_session_id(event.session_id);
  out->set_key(event.key);
  out->set_fencing_token(event.token);
  out->set_reason(event.reason);
}

void ToProto(const LockDescription& d, absl::Time now,
             v1::DescribeLockResponse* out) {
  out->set_key(d.key);
  for (const HolderInfo& h : d.holders) ToProto(h, now, out->add_holders());
  for (const WaiterInfo& w : d.waiters) {
    v1::Waiter* waiter = out->add_waiters();
    waiter->set_session_id(w.session_id);
    waiter->set_client_name(w.client_name);
    waiter->set_mode(ToProtoMode(w.mode));
    waiter->set_waited_for_ms(DurationToMs(now - w.enqueued_at));
    waiter->set_wait_remaining_ms(w.deadline == absl::InfiniteFuture()
                                      ? -1
                                      : DurationToMs(w.deadline - now));
  }
  out->set_waiter_count(static_cast<uint32_t>(d.waiter_count));
  out->set_semaphore_size(d.semaphore_size);
  if (d.delayed_until > now) {
    out->set_lock_delay_remaining_ms(
        std::max<int64_t>(1, DurationToMs(d.delayed_until - now)));
  }
}

void ToProto(const HolderInfo& h, absl::Time now, v1::Holder* out) {
  ToProto(h.grant, now, out->mutable_grant());
  out->set_client_name(h.client_name);
}

void ToProto(const LockSummary& lock, absl::Time now, v1::LockSummary* out) {
  out->set_key(lock.key);
  for (const HolderInfo& h : lock.holders) ToProto(h, now, out->add_holders());
  out->set_waiter_count(static_cast<uint32_t>(lock.waiter_count));
}

void ToProto(const SessionSummary& session, absl::Time now,
             v1::SessionSummary* out) {
  out->set_session_id(session.session_id);
  out->set_client_name(session.client_name);
  out->mutable_labels()->insert(session.labels.begin(), session.labels.end());
  out->set_ttl_ms(absl::ToInt64Milliseconds(session.ttl));
  out->set_expires_in_ms(DurationToMs(session.expires_at - now));
  out->set_held_keys(static_cast<uint32_t>(session.held_keys));
  out->set_waiting_keys(static_cast<uint32_t>(session.waiting_keys));
}

}  // namespace taala
