#ifndef TAALA_SERVER_CORE_EFFECTS_H_
#define TAALA_SERVER_CORE_EFFECTS_H_

// Work a command decides under the table's mutexes and does after they are
// released: waiter completions, session events, notes for the observer, and
// waits to recheck for a deadlock. EffectsRunner does that work.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/core/commands.h"
#include "server/core/event_mailbox.h"
#include "server/core/grant.h"
#include "server/core/session_registry.h"
#include "server/core/transition.h"
#include "server/core/wait_for_graph.h"

namespace taala {

// Notified of notable state changes, for logs and metrics. Never called under
// a table mutex. Methods may be called concurrently.
class TableObserver {
 public:
  virtual ~TableObserver() = default;
  virtual void OnSessionExpired(uint64_t session_id,
                                absl::string_view client_name,
                                size_t released_grants,
                                size_t cancelled_waits) {}
  virtual void OnGrantRevoked(const Grant& grant, absl::string_view reason) {}
  // An acquire of `key` by the session was refused (or its wait aborted)
  // as a deadlock; `message` is the ABORTED message, with the cycle.
  virtual void OnDeadlockRefused(uint64_t session_id,
                                 absl::string_view client_name,
                                 absl::string_view key,
                                 absl::string_view message) {}
  // A wait ended after the table's slow-wait threshold or more.
  virtual void OnSlowWait(uint64_t session_id, absl::string_view client_name,
                          absl::string_view key, absl::Duration waited,
                          AcquireOutcome outcome) {}
};

namespace table_internal {

// An operator's action (AdminService) that ends grants: its reason and
// caller go into their kGrantEnded records (the audit trail), and it may
// skip their lock-delays.
struct AdminAction {
  std::string reason;
  std::string caller;
  bool skip_lock_delay = false;
};

// What ending a session did.
struct EndResult {
  size_t released = 0;
  size_t cancelled_waits = 0;
};

// The batch. Filled under mutexes; owns nothing that needs one.
struct Effects {
  struct Completion {
    Waiter* waiter;
    absl::StatusOr<AcquireResult> result;
  };
  struct Expired {
    uint64_t session_id;
    std::string client_name;
    EndResult result;
  };
  struct Revoked {
    Grant grant;
    std::string reason;
  };
  // Waits of sessions just granted a key: a grant can close a cycle.
  struct Recheck {
    uint64_t session_id;
    std::string key;
    uint64_t seq;
  };
  std::vector<Completion> completions;
  // Mailboxes with events for their sinks.
  std::vector<std::shared_ptr<EventMailbox>> events;
  // Sessions whose event backlog overflowed: they are ended.
  std::vector<uint64_t> overflowed;
  std::vector<Expired> expired;
  std::vector<Revoked> revoked;
  std::vector<Recheck> recheck;
  // For the observer's log: deadlock refusals and slow waits.
  struct Deadlock {
    uint64_t session_id;
    std::string client_name;
    std::string key;
    std::string message;
  };
  struct SlowWait {
    uint64_t session_id;
    std::string client_name;
    std::string key;
    absl::Duration waited;
    AcquireOutcome outcome;
  };
  std::vector<Deadlock> deadlocks;
  std::vector<SlowWait> slow_waits;
  // The wait an Acquire just queued, if it may close a cycle: the acquiring
  // thread searches once the shard mutex is released and, on a cycle,
  // refuses the acquire (LockTable::Acquire).
  std::optional<Recheck> new_wait;
};

// The commands a batch can set off, done by the table: the runner reaches
// back through this interface, not through the table's header.
class EffectsHost {
 public:
  // Ends a wait that a grant put on `cycle` with ABORTED (`why`).
  virtual void AbortWaitInto(uint64_t session_id, const std::string& key,
                             uint64_t seq, const std::string& why,
                             const std::vector<WaitForGraph::Step>& cycle,
                             absl::Time now, Effects& effects) = 0;
  // Takes back a grant whose waiter left before it was delivered, unless a
  // retry has claimed it.
  virtual void ReleaseUndeliveredInto(const ReleaseCmd& cmd,
                                      Effects& effects) = 0;
  // Ends a session whose event backlog overflowed.
  virtual void EndOverflowedInto(uint64_t session_id, absl::Time now,
                                 Effects& effects) = 0;

 protected:
  ~EffectsHost() = default;
};

// Runs batches. Thread safety: Run may be called concurrently, and must be
// called with no table mutex held: it calls waiters, sinks (through
// EventMailbox::Flush) and the observer, which may call back into the
// table. It takes a mailbox's mutex only briefly, one at a time.
class EffectsRunner {
 public:
  // All must outlive the runner. Nothing a batch decided is made known
  // (waiters completed, events sent, observer told) before every record
  // appended to `log` so far is durable.
  EffectsRunner(WaitForGraph* graph, EffectsHost* host, TransitionLog* log)
      : graph_(graph), host_(host), log_(log) {}

  void set_observer(TableObserver* observer) { observer_ = observer; }

  // Deadlock rechecks first, then observer notes (a log line about an expiry
  // or a revocation comes before anyone is told of it), then events, then
  // completions (taking back grants nobody received), then the ends of
  // sessions whose event backlog overflowed. If the log's records are not
  // all durable yet, the batch is moved into a callback the log runs once
  // they are (on the log's thread): `effects` is left empty.
  void Run(Effects& effects, absl::Time now);

 private:
  void RunNow(Effects& effects, absl::Time now);

  WaitForGraph* const graph_;
  EffectsHost* const host_;
  TransitionLog* const log_;
  TableObserver* observer_ = nullptr;
};

}  // namespace table_internal

}  // namespace taala

#endif  // TAALA_SERVER_CORE_EFFECTS_H_
