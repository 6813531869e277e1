#include "server/wal/record_codec.h"

#include <utility>

#include "server/wal/coding.h"

namespace taala::wal {
namespace {

// Field bits of a record payload, in encoding order.
enum Field : uint32_t {
  kSessionId = 1 << 0,
  kKey = 1 << 1,
  kToken = 1 << 2,
  kMode = 1 << 3,
  kSemaphoreSize = 1 << 4,
  kReason = 1 << 5,
  kUpgrade = 1 << 6,
  kWall = 1 << 7,
  kTtl = 1 << 8,
  kMaxHold = 1 << 9,
  kLockDelay = 1 << 10,
  kClientName = 1 << 11,
  kLabels = 1 << 12,
  kEventSequence = 1 << 13,
  kEventType = 1 << 14,
  kText = 1 << 15,
  kRequesterSessionId = 1 << 16,
  kRequesterClientName = 1 << 17,
  // Added with the admin service (issue 11): logs written before it never
  // set the bit and decode as they did.
  kCaller = 1 << 18,
  // Added with session ownership (issue 12); older logs decode with an
  // empty owner.
  kOwner = 1 << 19,
  kAllFields = (1 << 20) - 1,
};

constexpr uint8_t kMaxType = static_cast<uint8_t>(TransitionType::kEventPosted);
constexpr uint8_t kMaxReason = static_cast<uint8_t>(EndReason::kSessionRevoked);

uint32_t PresentFields(const Transition& t) {
  uint32_t f = 0;
  if (t.session_id != 0) f |= kSessionId;
  if (!t.key.empty()) f |= kKey;
  if (t.token != 0) f |= kToken;
  if (t.mode != LockMode::kExclusive) f |= kMode;
  if (t.semaphore_size != 0) f |= kSemaphoreSize;
  if (t.reason != EndReason::kNone) f |= kReason;
  if (t.upgrade) f |= kUpgrade;
  if (t.wall != absl::UnixEpoch()) f |= kWall;
  if (t.ttl != absl::ZeroDuration()) f |= kTtl;
  if (t.max_hold != absl::ZeroDuration()) f |= kMaxHold;
  if (t.lock_delay != absl::ZeroDuration()) f |= kLockDelay;
  if (!t.client_name.empty()) f |= kClientName;
  if (!t.labels.empty()) f |= kLabels;
  if (t.event_sequence != 0) f |= kEventSequence;
  if (t.event_type != 0) f |= kEventType;
  if (!t.text.empty()) f |= kText;
  if (t.requester_session_id != 0) f |= kRequesterSessionId;
  if (!t.requester_client_name.empty()) f |= kRequesterClientName;
  if (!t.caller.empty()) f |= kCaller;
  if (!t.owner.empty()) f |= kOwner;
  return f;
}

void PutLabels(std::string* out, const Labels& labels) {
  PutVarint(out, labels.size());
  for (const auto& [k, v] : labels) {
    PutString(out, k);
    PutString(out, v);
  }
}

bool GetLabels(Decoder& d, Labels* labels) {
  uint64_t n;
  if (!d.GetVarint(&n)) return false;
  labels->clear();
  for (uint64_t i = 0; i < n; ++i) {
    std::string k, v;
    if (!d.GetString(&k) || !d.GetString(&v)) return false;
    // Keys come sorted and unique from a std::map; anything else is forged.
    if (!labels->empty() && !(labels->rbegin()->first < k)) return false;
    labels->emplace_hint(labels->end(), std::move(k), std::move(v));
  }
  return true;
}

bool GetMode(Decoder& d, LockMode* mode) {
  uint64_t m;
  if (!d.GetBounded(1, &m)) return false;
  *mode = m == 0 ? LockMode::kExclusive : LockMode::kShared;
  return true;
}

}  // namespace

void EncodeTransition(const Transition& t, std::string* out) {
  EncodeTransitionAs(t, t.lsn, out);
}

void EncodeTransitionAs(const Transition& t, uint64_t lsn, std::string* out) {
  out->push_back(static_cast<char>(t.type));
  PutVarint(out, lsn);
  const uint32_t f = PresentFields(t);
  PutVarint(out, f);
  if (f & kSessionId) PutVarint(out, t.session_id);
  if (f & kKey) PutString(out, t.key);
  if (f & kToken) PutVarint(out, t.token);
  if (f & kMode) PutVarint(out, static_cast<uint64_t>(t.mode));
  if (f & kSemaphoreSize) PutVarint(out, t.semaphore_size);
  if (f & kReason) PutVarint(out, static_cast<uint64_t>(t.reason));
  // kUpgrade: the bit is the value.
  if (f & kWall) PutTime(out, t.wall);
  if (f & kTtl) PutDuration(out, t.ttl);
  if (f & kMaxHold) PutDuration(out, t.max_hold);
  if (f & kLockDelay) PutDuration(out, t.lock_delay);
  if (f & kClientName) PutString(out, t.client_name);
  if (f & kLabels) PutLabels(out, t.labels);
  if (f & kEventSequence) PutVarint(out, t.event_sequence);
  if (f & kEventType) PutVarint(out, t.event_type);
  if (f & kText) PutString(out, t.text);
  if (f & kRequesterSessionId) PutVarint(out, t.requester_session_id);
  if (f & kRequesterClientName) PutString(out, t.requester_client_name);
  if (f & kCaller) PutString(out, t.caller);
  if (f & kOwner) PutString(out, t.owner);
}

bool DecodeTransition(absl::string_view payload, Transition* out) {
  *out = Transition();
  if (payload.empty()) return false;
  const auto type = static_cast<uint8_t>(payload[0]);
  if (type < 1 || type > kMaxType) return false;
  out->type = static_cast<TransitionType>(type);
  Decoder d(payload.substr(1));
  uint64_t f, v;
  if (!d.GetVarint(&out->lsn) || !d.GetVarint(&f)) return false;
  if ((f & ~static_cast<uint64_t>(kAllFields)) != 0) return false;
  if ((f & kSessionId) && !d.GetVarint(&out->session_id)) return false;
  if ((f & kKey) && !d.GetString(&out->key)) return false;
  if ((f & kToken) && !d.GetVarint(&out->token)) return false;
  if ((f & kMode) && !GetMode(d, &out->mode)) return false;
  if ((f & kSemaphoreSize) && !d.GetU32(&out->semaphore_size)) return false;
  if (f & kReason) {
    if (!d.GetBounded(kMaxReason, &v)) return false;
    out->reason = static_cast<EndReason>(v);
  }
  out->upgrade = (f & kUpgrade) != 0;
  if ((f & kWall) && !d.GetTime(&out->wall)) return false;
  if ((f & kTtl) && !d.GetDuration(&out->ttl)) return false;
  if ((f & kMaxHold) && !d.GetDuration(&out->max_hold)) return false;
  if ((f & kLockDelay) && !d.GetDuration(&out->lock_delay)) return false;
  if ((f & kClientName) && !d.GetString(&out->client_name)) return false;
  if ((f & kLabels) && !GetLabels(d, &out->labels)) return false;
  if ((f & kEventSequence) && !d.GetVarint(&out->event_sequence)) {
    return false;
  }
  if (f & kEventType) {
    if (!d.GetBounded(0xFF, &v)) return false;
    out->event_type = static_cast<uint8_t>(v);
  }
  if ((f & kText) && !d.GetString(&out->text)) return false;
  if ((f & kRequesterSessionId) && !d.GetVarint(&out->requester_session_id)) {
    return false;
  }
  if ((f & kRequesterClientName) &&
      !d.GetString(&out->requester_client_name)) {
    return false;
  }
  if ((f & kCaller) && !d.GetString(&out->caller)) return false;
  if ((f & kOwner) && !d.GetString(&out->owner)) return false;
  return d.done();
}

std::string EncodeSnapshotBody(const DurableState& state) {
  std::string out;
  PutVarint(&out, state.lsn);
  PutVarint(&out, state.max_events);
  PutVarint(&out, state.sessions.size());
  for (const auto& [id, s] : state.sessions) {
    PutVarint(&out, id);
    PutString(&out, s.client_name);
    PutLabels(&out, s.labels);
    PutDuration(&out, s.ttl);
    // Flags: 1 overflowed, 2 an owner follows (format version 2; version
    // 1 files never set it, and their sessions restore with no owner).
    PutVarint(&out, (s.overflowed ? 1 : 0) | (s.owner.empty() ? 0 : 2));
    if (!s.owner.empty()) PutString(&out, s.owner);
    PutVarint(&out, s.last_event_sequence);
    PutVarint(&out, s.events.size());
    for (const DurableEvent& e : s.events) {
      PutVarint(&out, e.sequence);
      PutVarint(&out, e.type);
      PutString(&out, e.key);
      PutVarint(&out, e.token);
      PutString(&out, e.text);
      PutVarint(&out, e.requester_session_id);
      PutString(&out, e.requester_client_name);
    }
  }
  PutVarint(&out, state.keys.size());
  for (const auto& [name, k] : state.keys) {
    PutString(&out, name);
    PutTime(&out, k.delayed_until);
    PutTime(&out, k.exclusive_delay_until);
    PutVarint(&out, k.holders.size());
    for (const DurableGrant& g : k.holders) {
      PutVarint(&out, g.session_id);
      PutVarint(&out, g.token);
      PutVarint(&out, static_cast<uint64_t>(g.mode));
      PutVarint(&out, g.semaphore_size);
      PutTime(&out, g.granted_at);
      PutDuration(&out, g.max_hold);
      PutDuration(&out, g.lock_delay);
    }
  }
  return out;
}

namespace {

bool GetSession(Decoder& d, DurableSession* s) {
  uint64_t n, type, flags;
  if (!d.GetVarint(&s->id) || !d.GetString(&s->client_name) ||
      !GetLabels(d, &s->labels) || !d.GetDuration(&s->ttl) ||
      !d.GetBounded(3, &flags) ||
      ((flags & 2) != 0 && !d.GetString(&s->owner)) ||
      !d.GetVarint(&s->last_event_sequence) || !d.GetVarint(&n)) {
    return false;
  }
  s->overflowed = (flags & 1) != 0;
  for (uint64_t i = 0; i < n; ++i) {
    DurableEvent e;
    if (!d.GetVarint(&e.sequence) || !d.GetBounded(0xFF, &type) ||
        !d.GetString(&e.key) || !d.GetVarint(&e.token) ||
        !d.GetString(&e.text) || !d.GetVarint(&e.requester_session_id) ||
        !d.GetString(&e.requester_client_name)) {
      return false;
    }
    e.type = static_cast<uint8_t>(type);
    s->events.push_back(std::move(e));
  }
  return true;
}

bool GetKey(Decoder& d, DurableKey* k) {
  uint64_t n;
  if (!d.GetTime(&k->delayed_until) || !d.GetTime(&k->exclusive_delay_until) ||
      !d.GetVarint(&n)) {
    return false;
  }
  for (uint64_t i = 0; i < n; ++i) {
    DurableGrant g;
    if (!d.GetVarint(&g.session_id) || !d.GetVarint(&g.token) ||
        !GetMode(d, &g.mode) || !d.GetU32(&g.semaphore_size) ||
        !d.GetTime(&g.granted_at) || !d.GetDuration(&g.max_hold) ||
        !d.GetDuration(&g.lock_delay)) {
      return false;
    }
    k->holders.push_back(g);
  }
  return true;
}

}  // namespace

bool DecodeSnapshotBody(absl::string_view body, DurableState* out) {
  *out = DurableState();
  Decoder d(body);
  uint64_t max_events, n;
  if (!d.GetVarint(&out->lsn) || !d.GetVarint(&max_events) ||
      !d.GetVarint(&n)) {
    return false;
  }
  out->max_events = static_cast<size_t>(max_events);
  // Both maps were written in key order: each entry goes at the end
  // (amortized O(1), no descent with key compares); one out of order or
  // repeated is corrupt.
  for (uint64_t i = 0; i < n; ++i) {
    DurableSession s;
    if (!GetSession(d, &s)) return false;
    const uint64_t id = s.id;
    if (!out->sessions.empty() && out->sessions.rbegin()->first >= id) {
      return false;
    }
    out->sessions.emplace_hint(out->sessions.end(), id, std::move(s));
  }
  if (!d.GetVarint(&n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    std::string name;
    DurableKey k;
    if (!d.GetString(&name) || !GetKey(d, &k)) return false;
    if (!out->keys.empty() && out->keys.rbegin()->first >= name) return false;
    out->keys.emplace_hint(out->keys.end(), std::move(name), std::move(k));
  }
  return d.done();
}

}  // namespace taala::wal
