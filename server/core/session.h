#ifndef TAALA_SERVER_CORE_SESSION_H_
#define TAALA_SERVER_CORE_SESSION_H_

// One session: its constant identity, its lease, and the indexes of the keys
// it holds and waits on (the shards hold the grants and waits themselves).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/commands.h"
#include "server/core/event_mailbox.h"
#include "server/core/owner_registry.h"

namespace taala {

// A new session's lease (LockTable::CreateSession).
struct SessionInfo {
  uint64_t session_id = 0;
  std::string owner;  // The identity that created it.
  std::string client_name;
  absl::Duration ttl;
  absl::Time expires_at;
};

namespace table_internal {

// `labels` as a shared constant; one shared empty map for the many sessions
// without labels (no allocation).
std::shared_ptr<const Labels> SharedLabels(Labels labels);

// Thread safety: identity fields are constant after construction and read
// without a mutex; the lease and the indexes are protected by mu. Lock
// order: a shard's mutex, then mu (two sessions' mutexes are never held
// together); under mu only leaves are taken (the mailbox's, the timer
// queue's, the wait-for graph's).
struct Session {
  // `counters`: the owner's (OwnerRegistry); null in tests that count
  // nothing.
  Session(uint64_t id_in, std::string owner_in,
          std::shared_ptr<OwnerCounters> counters, std::string name,
          Labels labels_in, absl::Duration ttl_in, absl::Time expires,
          size_t max_pending_events, TransitionLog* log)
      : id(id_in),
        owner(std::move(owner_in)),
        owner_counters(std::move(counters)),
        client_name(std::move(name)),
        labels(SharedLabels(std::move(labels_in))),
        ttl(ttl_in),
        mailbox(std::make_shared<EventMailbox>(max_pending_events, log)),
        expires_at_hint_ns(absl::ToUnixNanos(expires)),
        expires_at(expires),
        held(owner_counters ? &owner_counters->held : nullptr),
        waiting(owner_counters ? &owner_counters->waiting : nullptr) {}

  // True if the lease certainly has not run out by `now`, read without the
  // mutex: a lease only grows, so the hint is never past expires_at. False
  // means "look under the mutex" (it may have run out, or the session ended).
  bool LeaseCertainlyLiveAt(absl::Time now) const {
    return expires_at_hint_ns.load(std::memory_order_relaxed) >
           absl::ToUnixNanos(now);
  }

  const uint64_t id;
  // The identity that created the session (empty: restored from a log
  // written before issue 12; any anonymous identity may use it).
  const std::string owner;
  const std::shared_ptr<OwnerCounters> owner_counters;
  const std::string client_name;
  // Shared, and never null: introspection copies the pointer, not the map,
  // under a shard's mutex (a holder's labels need no session mutex).
  const std::shared_ptr<const Labels> labels;
  const absl::Duration ttl;

  // Events to the session's KeepAlive stream; its own leaf mutex.
  const std::shared_ptr<EventMailbox> mailbox;

  // expires_at for LeaseCertainlyLiveAt; stored whenever expires_at grows.
  std::atomic<int64_t> expires_at_hint_ns;

  absl::Mutex mu;
  absl::Time expires_at ABSL_GUARDED_BY(mu);
  bool ended ABSL_GUARDED_BY(mu) = false;
  // Keys held, with their tokens; keys waited on, with the wait's sequence.
  // Each change moves the owner's counters (owner_registry.h).
  CountedKeys held ABSL_GUARDED_BY(mu);
  CountedKeys waiting ABSL_GUARDED_BY(mu);
};

// Limits on what a new session may carry (LockTable::Options).
struct SessionLimits {
  size_t max_client_name_bytes = 0;
  size_t max_labels = 0;
  size_t max_label_bytes = 0;
};

// OK if `cmd` is a well-formed request within `limits`; INVALID_ARGUMENT
// naming the field otherwise.
[[nodiscard]] absl::Status ValidateSessionRequest(const CreateSessionCmd& cmd,
                                                  const SessionLimits& limits);

// "session 5 not found (expired, closed or never created)".
std::string SessionNotFound(uint64_t session_id);

// True if `caller` may name a session owned by `owner`: the same identity,
// or, for a session with no owner (restored from a log written before
// issue 12), any anonymous caller (`caller_anonymous`, Identity::anonymous:
// taalad's own mark, never read off a name a credential could claim).
inline bool OwnerMatches(absl::string_view owner, absl::string_view caller,
                         bool caller_anonymous) {
  if (owner.empty()) return caller_anonymous;
  return owner == caller;
}

}  // namespace table_internal

}  // namespace taala

#endif  // TAALA_SERVER_CORE_SESSION_H_
