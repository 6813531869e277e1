#include "server/rpc/translation.h"

#include <algorithm>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/wire_time.h"
#include "google/protobuf/io/coded_stream.h"

namespace taala {
namespace {

// Adds `items` to `out` (made by `fill`) while they fit in `*left` bytes,
// taking what they use from it. Returns how many were added.
template <typename Item, typename Proto, typename Fill>
size_t AddWhileFits(const std::vector<Item>& items,
                    google::protobuf::RepeatedPtrField<Proto>* out,
                    size_t* left, Fill fill) {
  size_t added = 0;
  for (const Item& item : items) {
    Proto* p = out->Add();
    fill(item, p);
    const size_t bytes = ElementBytes(*p);
    if (bytes > *left) {
      out->RemoveLast();
      break;
    }
    *left -= bytes;
    ++added;
  }
  return added;
}

}  // namespace

size_t ElementBytes(const google::protobuf::MessageLite& m) {
  const size_t body = m.ByteSizeLong();
  return 1 + google::protobuf::io::CodedOutputStream::VarintSize64(body) +
         body;
}

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

CreateSessionCmd ToCreateSessionCmd(const v1::CreateSessionRequest& req,
                                    uint64_t session_id, absl::Time now) {
  CreateSessionCmd cmd;
  cmd.session_id = session_id;
  cmd.client_name = req.client_name();
  cmd.labels = Labels(req.labels().begin(), req.labels().end());
  // Not DurationFromMs: a negative TTL is refused by the table, not infinite.
  cmd.ttl = absl::Milliseconds(req.ttl_ms());
  cmd.now = now;
  return cmd;
}

absl::StatusOr<AcquireCmd> ToAcquireCmd(v1::AcquireRequest* req,
                                        absl::Time now,
                                        const PolicySet* policies) {
  absl::StatusOr<LockMode> mode = FromProtoMode(req->mode());
  if (!mode.ok()) return mode.status();
  // A field the request leaves unset takes the key's policy, if it sets it.
  const KeyPolicy* p =
      policies == nullptr ? nullptr : policies->Find(req->key());
  const KeyPolicy none;
  if (p == nullptr) p = &none;
  AcquireCmd cmd;
  cmd.session_id = req->session_id();
  cmd.key = std::move(*req->mutable_key());
  cmd.mode = *mode;
  cmd.wait_timeout = DurationFromMs(req->has_wait_timeout_ms()
                                        ? req->wait_timeout_ms()
                                        : p->wait_timeout_ms.value_or(0));
  // Negative values are refused by the table, so these are not DurationFromMs.
  cmd.max_hold = absl::Milliseconds(
      req->has_max_hold_ms() ? req->max_hold_ms() : p->max_hold_ms.value_or(0));
  cmd.semaphore_size = req->has_semaphore_size()
                           ? req->semaphore_size()
                           : p->semaphore_size.value_or(0);
  cmd.semaphore_size_from_policy =
      !req->has_semaphore_size() && p->semaphore_size.has_value();
  cmd.lock_delay = absl::Milliseconds(req->has_lock_delay_ms()
                                          ? req->lock_delay_ms()
                                          : p->lock_delay_ms.value_or(0));
  cmd.request_release = req->request_release();
  cmd.now = now;
  return cmd;
}

absl::StatusOr<MultiAcquireCmd> ToMultiAcquireCmd(v1::AcquireAllRequest* req,
                                                  const KeyLimits& limits,
                                                  absl::Time now,
                                                  const PolicySet* policies) {
  constexpr int kMaxKeys = 128;
  if (req->keys_size() == 0 || req->keys_size() > kMaxKeys) {
    return absl::InvalidArgumentError(
        absl::StrCat("keys: between 1 and ", kMaxKeys, " keys are needed (got ",
                     req->keys_size(), ")"));
  }
  if (req->max_hold_ms() < 0 || req->lock_delay_ms() < 0) {
    return absl::InvalidArgumentError(
        "max_hold_ms and lock_delay_ms: must not be negative");
  }
  MultiAcquireCmd cmd;
  cmd.session_id = req->session_id();
  cmd.keys.reserve(req->keys_size());
  std::optional<int64_t> policy_wait;  // The keys' policies' shortest.
  for (int i = 0; i < req->keys_size(); ++i) {
    v1::AcquireAllRequest::Key* k = req->mutable_keys(i);
    if (absl::Status s = ValidateKey(k->key(), limits); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("keys[", i, "].", s.message()));
    }
    absl::StatusOr<LockMode> mode = FromProtoMode(k->mode());
    if (!mode.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("keys[", i, "].", mode.status().message()));
    }
    const KeyPolicy* p =
        policies == nullptr ? nullptr : policies->Find(k->key());
    cmd.keys.push_back({std::move(*k->mutable_key()), *mode});
    if (p == nullptr) continue;
    // Each key's policy for what the request leaves unset; the wait is one
    // for all the keys: the shortest their policies set (-1: the longest).
    if (!req->has_max_hold_ms() && p->max_hold_ms.has_value()) {
      cmd.keys.back().max_hold = absl::Milliseconds(*p->max_hold_ms);
    }
    // AcquireAll has no semaphore_size of its own: a policy's takes a slot
    // (as a plain Acquire's would).
    cmd.keys.back().semaphore_size = p->semaphore_size.value_or(0);
    if (!req->has_lock_delay_ms() && p->lock_delay_ms.has_value()) {
      cmd.keys.back().lock_delay = absl::Milliseconds(*p->lock_delay_ms);
    }
    if (!req->has_wait_timeout_ms() && p->wait_timeout_ms.has_value() &&
        (!policy_wait.has_value() || *policy_wait < 0 ||
         (*p->wait_timeout_ms >= 0 && *p->wait_timeout_ms < *policy_wait))) {
      policy_wait = *p->wait_timeout_ms;
    }
  }
  // kInfiniteMs (any negative) waits until granted or cancelled.
  cmd.deadline = now + DurationFromMs(req->has_wait_timeout_ms()
                                          ? req->wait_timeout_ms()
                                          : policy_wait.value_or(0));
  cmd.max_hold = absl::Milliseconds(req->max_hold_ms());
  cmd.lock_delay = absl::Milliseconds(req->lock_delay_ms());
  return cmd;
}

ReleaseCmd ToReleaseCmd(v1::ReleaseRequest* req, absl::Time now) {
  return ReleaseCmd{req->session_id(), std::move(*req->mutable_key()),
                    req->fencing_token(), now};
}

ListLocksFilter ToListLocksFilter(const v1::ListLocksRequest& req,
                                  absl::Time now) {
  ListLocksFilter filter;
  // Not DurationFromMs: negative is refused, not infinite.
  filter.held_longer_than = absl::Milliseconds(req.held_longer_than_ms());
  filter.contended_only = req.contended_only();
  filter.now = now;
  return filter;
}

namespace {

// 0 takes `default_value`; more than `max` is lowered to it.
uint32_t Limit(uint32_t requested, uint32_t default_value, uint32_t max) {
  return requested == 0 ? default_value : std::min(requested, max);
}

}  // namespace

uint32_t PageSize(uint32_t requested) { return Limit(requested, 100, 1000); }

uint32_t MaxWaiters(uint32_t requested) {
  return Limit(requested, 1000, 100000);
}

absl::StatusOr<uint32_t> MaxEdges(uint32_t requested) {
  // The listing holds the wait-for graph's one mutex: bounded.
  constexpr uint32_t kMaxEdges = 10000;
  if (requested > kMaxEdges) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_edges: ", requested, " exceeds the limit of ",
                     kMaxEdges, " (0 takes ", kMaxEdges, ")"));
  }
  return requested == 0 ? kMaxEdges : requested;
}

absl::StatusOr<uint64_t> FromSessionPageToken(const std::string& token) {
  uint64_t after = 0;
  if (!token.empty() && !absl::SimpleAtoi(token, &after)) {
    return absl::InvalidArgumentError(
        "page_token: not a token ListSessions returned");
  }
  return after;
}

void ToProto(const SessionInfo& info, v1::CreateSessionResponse* out) {
  out->set_session_id(info.session_id);
  out->set_ttl_ms(DurationToMs(info.ttl));
  out->set_owner(info.owner);
}

void ToKeepAliveAck(uint64_t session_id, absl::Duration ttl,
                    v1::KeepAliveResponse* out) {
  out->set_session_id(session_id);
  out->set_ttl_ms(DurationToMs(ttl));
}

void ToProto(const AcquireResult& result, absl::Time now,
             v1::AcquireResponse* out) {
  out->set_result(result.acquired ? v1::AcquireResponse::ACQUIRED
                                  : v1::AcquireResponse::TIMED_OUT);
  if (!result.acquired) return;
  out->set_already_held(result.already_held);
  ToProto(result.grant, now, out->mutable_grant());
}

void ToProto(const MultiAcquireResult& result, absl::Time now,
             v1::AcquireAllResponse* out) {
  out->set_result(result.acquired ? v1::AcquireResponse::ACQUIRED
                                  : v1::AcquireResponse::TIMED_OUT);
  // Empty unless acquired.
  for (const AcquireResult& r : result.grants) {
    ToProto(r.grant, now, out->add_grants());
  }
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
  out->set_sequence(event.sequence);
}

void ToProto(const LockDescription& d, absl::Time now,
             v1::DescribeLockResponse* out, size_t budget) {
  out->set_key(d.key);
  size_t left = budget;
  auto holder = [now](const HolderInfo& h, v1::Holder* p) {
    ToProto(h, now, p);
  };
  AddWhileFits(d.holders, out->mutable_holders(), &left, holder);
  out->set_holder_count(static_cast<uint32_t>(d.holders.size()));
  auto blocker = [now](const HolderInfo& h, v1::TreeBlocker* b) {
    b->set_key(h.grant.key);
    ToProto(h, now, b->mutable_holder());
  };
  AddWhileFits(d.blocked_from_above, out->mutable_blocked_from_above(), &left,
               blocker);
  AddWhileFits(d.blocked_from_below, out->mutable_blocked_from_below(), &left,
               blocker);
  AddWhileFits(d.waiters, out->mutable_waiters(), &left,
               [now](const WaiterInfo& w, v1::Waiter* waiter) {
                 waiter->set_session_id(w.session_id);
                 waiter->set_client_name(w.client_name);
                 waiter->set_mode(ToProtoMode(w.mode));
                 waiter->set_waited_for_ms(DurationToMs(now - w.enqueued_at));
                 // kInfiniteMs for a wait without a deadline.
                 waiter->set_wait_remaining_ms(
                     DurationToMs(w.deadline - now));
               });
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
  if (h.labels != nullptr) {
    out->mutable_labels()->insert(h.labels->begin(), h.labels->end());
  }
}

void ToProto(const LockPage& page, absl::Time now, v1::ListLocksResponse* out,
             size_t budget) {
  size_t left = budget;
  for (const LockSummary& lock : page.locks) {
    v1::LockSummary* item = out->add_locks();
    item->set_key(lock.key);
    item->set_waiter_count(static_cast<uint32_t>(lock.waiter_count));
    item->set_holder_count(static_cast<uint32_t>(lock.holders.size()));
    size_t item_left = left;
    const size_t listed = AddWhileFits(
        lock.holders, item->mutable_holders(), &item_left,
        [now](const HolderInfo& h, v1::Holder* p) { ToProto(h, now, p); });
    const size_t bytes = ElementBytes(*item);
    if ((listed < lock.holders.size() || bytes > left) &&
        out->locks_size() > 1) {
      // The page ends before this key; the next page starts at it (the
      // page token is the last key of the previous page).
      out->mutable_locks()->RemoveLast();
      out->set_next_page_token(out->locks(out->locks_size() - 1).key());
      return;
    }
    left -= std::min(left, bytes);
  }
  if (page.next_after.has_value()) out->set_next_page_token(*page.next_after);
}

void ToProto(const SessionSummary& session, absl::Time now,
             v1::SessionSummary* out) {
  out->set_session_id(session.session_id);
  out->set_client_name(session.client_name);
  out->set_owner(session.owner);
  out->mutable_labels()->insert(session.labels.begin(), session.labels.end());
  out->set_ttl_ms(DurationToMs(session.ttl));
  out->set_expires_in_ms(DurationToMs(session.expires_at - now));
  out->set_held_keys(static_cast<uint32_t>(session.held_keys));
  out->set_waiting_keys(static_cast<uint32_t>(session.waiting_keys));
}

void ToProto(const SessionPage& page, absl::Time now,
             v1::ListSessionsResponse* out, size_t budget) {
  size_t left = budget;
  const size_t listed = AddWhileFits(
      page.sessions, out->mutable_sessions(), &left,
      [now](const SessionSummary& s, v1::SessionSummary* p) {
        ToProto(s, now, p);
      });
  if (listed < page.sessions.size() && listed > 0) {
    // The page ends early; the token is the last session id included.
    out->set_next_page_token(absl::StrCat(page.sessions[listed - 1].session_id));
  } else if (page.next_after.has_value()) {
    out->set_next_page_token(absl::StrCat(*page.next_after));
  }
}

void ToProto(const WaitForGraph::Edge& edge, v1::WaitForEdge* out) {
  out->set_waiter_session_id(edge.waiter.session);
  out->set_waiter_client_name(edge.waiter.client_name);
  out->set_waiter_mode(ToProtoMode(edge.waiter.mode));
  out->set_blocker_session_id(edge.blocker.session);
  out->set_blocker_client_name(edge.blocker.client_name);
  out->set_blocker_mode(ToProtoMode(edge.blocker.mode));
  out->set_key(edge.key);
  out->set_queued_ahead(edge.queued_ahead);
}

}  // namespace taala
