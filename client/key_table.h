#ifndef TAALA_CLIENT_KEY_TABLE_H_
#define TAALA_CLIENT_KEY_TABLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/lock_client.h"

namespace taala {

// The keys a Session's taala::Lock objects hold or are taking, so that two
// Locks of one session never both own a key (the server sees one session,
// and would answer the second with the first's grant). A second Lock on a
// key in use waits in the process, as if another process held it; only
// SHARED Locks join the grant a SHARED Lock of the session already holds,
// and the grant is released on the server when the last of them leaves.
// No gRPC; internal to taala_client.
//
// A Lock goes to the server only after Enter() says it claimed the key, and
// reports the answer with Granted() or NotGranted(); it leaves with Leave()
// and, when it was the last owner, reports the server's answer with
// Released(). While a claim or a release is with the server the key is busy.
//
// Thread safety: all methods may be called concurrently. mu_ is a leaf.
class KeyTable {
 public:
  using Owner = const Lock*;

  struct Entered {
    // Set: the Lock joined this SHARED grant of another Lock (no server call).
    // Empty: the Lock claimed the key and must ask the server.
    std::optional<LockGrant> joined;
    // The session may already hold the key: an earlier call's outcome is
    // unknown (no answer), so the server may answer already_held=true.
    bool may_be_held = false;
  };

  // Waits until `owner` may ask the server for `key`, or joins a SHARED
  // grant (`joinable`: the Lock is SHARED, not a semaphore). A joiner does
  // not overtake a Lock that already waits for the key. DEADLINE_EXCEEDED
  // at `deadline` (absl::InfiniteFuture(): none); after End(), its status.
  absl::StatusOr<Entered> Enter(Owner owner, const std::string& key,
                                bool joinable, absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The claim's answer. REQUIRES: Enter() claimed `key` for `owner`.
  void Granted(Owner owner, const std::string& key, const LockGrant& grant)
      ABSL_LOCKS_EXCLUDED(mu_);
  // `outcome_unknown`: no answer came, the server may have granted it.
  void NotGranted(const std::string& key, bool outcome_unknown)
      ABSL_LOCKS_EXCLUDED(mu_);

  enum class Left {
    kShared,     // Other owners still hold the grant: nothing to release.
    kLast,       // Release it on the server, then call Released().
    kNotOwner,   // The grant was detached (revoked): release it on the
                 // server (which knows it is gone); the table is untouched.
  };
  Left Leave(Owner owner, const std::string& key) ABSL_LOCKS_EXCLUDED(mu_);
  // After kLast. `outcome_unknown`: the server may still hold the grant.
  void Released(const std::string& key, bool outcome_unknown)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The server revoked grant `token` of `key`: its owners keep their (now
  // revoked) grant until they unlock, but the key is free for other Locks
  // of the session at once, as it is for other processes.
  void Revoked(const std::string& key, uint64_t token)
      ABSL_LOCKS_EXCLUDED(mu_);

  // True if a Lock holds or takes `key`.
  bool InUse(const std::string& key) const ABSL_LOCKS_EXCLUDED(mu_);

  // The session ended (lost or closed): waiting and later Enter() calls
  // fail with `why`. Idempotent: the first status stays.
  void End(absl::Status why) ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until no Lock is inside the table (waiting in Enter, or between a
  // claim or last Leave and its answer). REQUIRES: End() was called.
  void AwaitIdle() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    bool joinable = false;
    bool busy = true;  // A claim or a release is with the server.
    std::vector<Owner> owners;
    std::optional<LockGrant> grant;
  };

  mutable absl::Mutex mu_;
  absl::CondVar changed_;  // Signalled when a key frees, is granted or ends.
  absl::flat_hash_map<std::string, Entry> keys_ ABSL_GUARDED_BY(mu_);
  // Locks waiting in Enter() per key (SHARED joiners do not overtake them).
  absl::flat_hash_map<std::string, int> waiting_ ABSL_GUARDED_BY(mu_);
  // Keys the session may hold with no owner (see Entered::may_be_held).
  absl::flat_hash_set<std::string> unsure_ ABSL_GUARDED_BY(mu_);
  int inside_ ABSL_GUARDED_BY(mu_) = 0;  // Waiting, claimed or releasing.
  absl::Status ended_ ABSL_GUARDED_BY(mu_);
  bool has_ended_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace taala

#endif  // TAALA_CLIENT_KEY_TABLE_H_
