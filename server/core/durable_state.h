#ifndef TAALA_SERVER_CORE_DURABLE_STATE_H_
#define TAALA_SERVER_CORE_DURABLE_STATE_H_

// What survives a restart: the sessions, grants, lock-delays and recent
// session events that the transition records (transition.h) describe, as
// plain values with wall-clock times. A snapshot is one of these at an LSN;
// recovery folds the log's later records into it with Apply (no decisions:
// no queues, timers or liveness checks) and hands the result to
// LockTable::Restore. LockTable::ExportState gives the same view of a live
// table, so tests compare a replay with the table it came from.
//
// Thread safety: none; a value type.

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/core/commands.h"
#include "server/core/lock_mode.h"
#include "server/core/transition.h"

namespace taala {

struct DurableEvent {
  uint64_t sequence = 0;
  uint8_t type = 0;  // SessionEvent::Type's value.
  std::string key;
  uint64_t token = 0;
  std::string text;
  uint64_t requester_session_id = 0;
  std::string requester_client_name;
  bool operator==(const DurableEvent& o) const;
};

struct DurableSession {
  uint64_t id = 0;
  // The identity that owns it (empty: from a log or snapshot written
  // before issue 12).
  std::string owner;
  std::string client_name;
  Labels labels;
  absl::Duration ttl;
  // The session's most recent events (at most DurableState::max_events),
  // oldest first: a client that had not acknowledged them gets them again.
  std::deque<DurableEvent> events;
  // The sequence of the session's last event (0: none).
  uint64_t last_event_sequence = 0;
  // Its event backlog overflowed (a GRANT_REVOKED found it full): the
  // session was being ended, and a restore ends it (its oldest events may
  // be gone from `events`, which keeps only max_events).
  bool overflowed = false;
  bool operator==(const DurableSession& o) const;
};

struct DurableGrant {
  uint64_t session_id = 0;
  uint64_t token = 0;
  LockMode mode = LockMode::kExclusive;
  uint32_t semaphore_size = 0;  // 0: a lock.
  absl::Time granted_at = absl::UnixEpoch();  // Wall clock.
  absl::Duration max_hold;                     // Zero: none.
  absl::Duration lock_delay;
  bool operator==(const DurableGrant& o) const;
};

struct DurableKey {
  // In grant order (token order), as the table keeps them.
  std::vector<DurableGrant> holders;
  // Lock-delays running on the key (wall clock; InfinitePast: none), after
  // any grant and after EXCLUSIVE grants (key_state.h).
  absl::Time delayed_until = absl::InfinitePast();
  absl::Time exclusive_delay_until = absl::InfinitePast();
  bool empty() const {
    return holders.empty() && delayed_until == absl::InfinitePast() &&
           exclusive_delay_until == absl::InfinitePast();
  }
  bool operator==(const DurableKey& o) const;
};

struct DurableState {
  // The LSN of the last record applied (0: none).
  uint64_t lsn = 0;
  // Events kept per session (LockTable::Options::max_pending_events).
  size_t max_events = 1024;
  std::map<uint64_t, DurableSession> sessions;
  std::map<std::string, DurableKey> keys;

  // Applies one record. Records at or below `lsn` are skipped (a snapshot
  // already holds them). Returns false, changing nothing, if the record
  // does not fit the state (a grant of an unknown session, the end of a
  // grant that is not held, ...): a log that is not this state's history.
  // An event of a session that has ended is skipped (its SESSION_EXPIRED
  // is recorded after its end).
  bool Apply(const Transition& t);

  bool operator==(const DurableState& o) const;
  // A readable account of the first differences from `o` ("" if equal).
  std::string Diff(const DurableState& o) const;
};

}  // namespace taala

#endif  // TAALA_SERVER_CORE_DURABLE_STATE_H_
