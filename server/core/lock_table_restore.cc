// LockTable: recovery from durable state, and the export of the same view
// of a live table. Part of the facade (server/core/lock_table.h).

#include <algorithm>
#include <iterator>
#include <limits>
#include <string>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "server/core/lock_table.h"
#include "server/core/shard.h"

namespace taala {

void LockTable::Restore(const DurableState& state, absl::Time now,
                        absl::Duration grace, bool restore_sessions) {
  const absl::Duration offset = options_.wall_offset;
  // Each session looked up once (the registry's mutex per grant cost a
  // third of a million-grant restore); nullptr: not in the table.
  absl::flat_hash_map<uint64_t, std::shared_ptr<Session>> restored;
  if (restore_sessions) {
    restored.reserve(state.sessions.size());
    for (const auto& [id, d] : state.sessions) {
      // The lease restarts: renewals were never recorded, and a live client
      // needs the time to reconnect.
      const absl::Time expires = now + d.ttl + grace;
      // Restored whatever the limits: they were admitted before.
      auto session = std::make_shared<Session>(
          id, d.owner,
          owners_.AddSession(d.owner, std::numeric_limits<int64_t>::max()),
          d.client_name, d.labels, d.ttl, expires,
          options_.max_pending_events, log_);
      std::vector<SessionEvent> events;
      for (const DurableEvent& e : d.events) {
        SessionEvent event{static_cast<SessionEvent::Type>(e.type),
                           id,
                           e.key,
                           e.token,
                           e.text,
                           e.requester_session_id,
                           e.requester_client_name,
                           e.sequence,
                           /*lsn=*/0};
        events.push_back(std::move(event));
      }
      session->mailbox->Restore(std::move(events), d.last_event_sequence);
      restored.emplace(id, session);
      sessions_.Insert(std::move(session));
      timers_.Schedule(Timer{expires, Timer::Kind::kSessionExpiry, id, 0, ""});
    }
  }
  auto find_session = [&](uint64_t id) -> const std::shared_ptr<Session>& {
    auto it = restored.find(id);
    if (it == restored.end()) it = restored.emplace(id, sessions_.Find(id)).first;
    return it->second;
  };
  // In key order, as before; a shard's mutex is held across consecutive keys
  // of that shard (keys sort by their first segment, which picks the shard:
  // in effect once per first segment, not once per key). Nothing else runs
  // during a restore, and the order of records and timers is unchanged.
  for (auto it = state.keys.begin(); it != state.keys.end();) {
    Shard& shard = ShardFor(it->first);
    absl::MutexLock lock(&shard.mu);
    Shard* next = &shard;
    for (; it != state.keys.end() && next == &shard; ++it) {
      const std::string& key = it->first;
      const DurableKey& k = it->second;
      shard.RestoreDelaysLocked(
          key,
          k.delayed_until == absl::InfinitePast() ? k.delayed_until
                                                  : k.delayed_until - offset,
          k.exclusive_delay_until == absl::InfinitePast()
              ? k.exclusive_delay_until
              : k.exclusive_delay_until - offset,
          now);
      for (const DurableGrant& g : k.holders) {
        const std::shared_ptr<Session>& session = find_session(g.session_id);
        if (session == nullptr) {
          shard.EndOrphanGrantLocked(key, g.session_id, g.token, g.mode,
                                     g.lock_delay, now);
          continue;
        }
        const absl::Time granted_at = g.granted_at - offset;
        const absl::Time revoke_at = g.max_hold > absl::ZeroDuration()
                                         ? granted_at + g.max_hold
                                         : absl::InfiniteFuture();
        shard.RestoreGrantLocked(key, session, g.token, g.mode,
                                 g.semaphore_size, granted_at, revoke_at,
                                 g.lock_delay, now);
      }
      auto following = std::next(it);
      if (following != state.keys.end()) next = &ShardFor(following->first);
    }
  }
  if (!restore_sessions) return;
  // A session whose event backlog overflowed was being ended (its oldest
  // unacknowledged events may not have been kept): end it now, as the
  // previous run was about to.
  for (const auto& [id, d] : state.sessions) {
    if (!d.overflowed) continue;
    Effects effects;
    EndOverflowedInto(id, now, effects);
    runner_.Run(effects, now);
  }
}

DurableState LockTable::ExportState() {
  DurableState out;
  out.lsn = log_->LastLsn();
  out.max_events = options_.max_pending_events;
  for (auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    shard->ExportLocked(out);
  }
  for (const std::shared_ptr<Session>& session : sessions_.All()) {
    Session& s = *session;
    DurableSession d;
    d.id = s.id;
    d.owner = s.owner;
    d.client_name = s.client_name;
    d.labels = *s.labels;
    d.ttl = s.ttl;
    for (const SessionEvent& e : s.mailbox->PendingEvents()) {
      d.events.push_back(DurableEvent{e.sequence, static_cast<uint8_t>(e.type),
                                      e.key, e.token, e.reason,
                                      e.requester_session_id,
                                      e.requester_client_name});
    }
    d.last_event_sequence = s.mailbox->last_sequence();
    d.overflowed = s.mailbox->overflowed();
    out.sessions.emplace(d.id, std::move(d));
  }
  return out;
}

}  // namespace taala
