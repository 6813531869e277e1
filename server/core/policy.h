#ifndef TAALA_SERVER_CORE_POLICY_H_
#define TAALA_SERVER_CORE_POLICY_H_

// Lock policies per key prefix (taalad --policy_file, docs/policies.md):
// defaults for acquires that leave max hold, lock-delay, wait timeout or
// semaphore size unset. PolicySet is the parsed file and the longest-prefix
// lookup, pure code: no file access, no gRPC, no logging (the reloader in
// server/policy_reloader.h reads the file and logs).

#include <cstddef>
#include <cstdint>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace taala {

// One line of the policy file. Unset fields are "no default". Values in
// milliseconds, as on the wire.
struct KeyPolicy {
  std::string prefix;  // "" matches every key (the catch-all).
  std::optional<int64_t> max_hold_ms;     // >= 0; 0: no limit.
  std::optional<int64_t> lock_delay_ms;   // >= 0, <= --max_lock_delay.
  std::optional<int64_t> wait_timeout_ms;  // >= 0, or -1: until granted.
  std::optional<uint32_t> semaphore_size;  // 1..kMaxPolicySemaphoreSize.
  int line = 0;                            // 1-based line of the file.
};

// What a policy file may set, beyond the file's own syntax.
struct PolicyLimits {
  absl::Duration max_lock_delay = absl::Hours(1);  // taalad --max_lock_delay.
};

// Largest semaphore_size a policy may set: a semaphore's holders live in one
// shard, and a typo (an extra zero or three) should be refused, not served.
inline constexpr uint32_t kMaxPolicySemaphoreSize = 1000000;
// Longest max_hold or wait_timeout a policy may set (other than `forever`).
inline constexpr absl::Duration kMaxPolicyDuration = absl::Hours(24 * 365);

// An immutable set of policies. Find is O(log n) (a binary search, then a
// binary-lifting walk up the prefixes that contain the one found) and does
// not allocate; a PolicySet may be read from any number of threads.
class PolicySet {
 public:
  // No policies: Find always answers nullptr.
  PolicySet() = default;

  // Parses a policy file's text. Any error refuses the whole text with
  // INVALID_ARGUMENT "line N: <what>".
  static absl::StatusOr<PolicySet> Parse(absl::string_view text,
                                         const PolicyLimits& limits);

  // The policy of the longest prefix `key` starts with (bytewise), or
  // nullptr. Valid as long as *this.
  const KeyPolicy* Find(absl::string_view key) const;

  // Sorted by prefix (bytewise).
  const std::vector<KeyPolicy>& policies() const { return policies_; }
  bool empty() const { return policies_.empty(); }

 private:
  void BuildIndex();

  std::vector<KeyPolicy> policies_;
  // up_[k][i]: the 2^k-th nearest policy whose prefix is a proper prefix of
  // policies_[i]'s, or -1. up_[0] is the parent.
  std::vector<std::vector<int>> up_;
};

// The policies in force and the history of their loads (GetPolicies).
struct PolicyState {
  std::shared_ptr<const PolicySet> set = std::make_shared<PolicySet>();
  std::string file;  // Empty: no --policy_file.
  absl::Time loaded_at = absl::InfinitePast();  // Wall clock.
  uint64_t generation = 0;  // Successful loads so far.
  std::string last_error;   // "line 3: ..."; empty if the last load worked.
  absl::Time last_error_at = absl::InfinitePast();
};

// Holds the PolicyState in force. A reload publishes a new state (Set); an
// acquire reads it (Get) without taking a lock shared by all threads: each
// thread keeps the state it read last, with its version, and only takes
// the holder's mutex (briefly, never across a reload's parsing) the first
// time it reads after a Set.
class PolicyHolder {
 public:
  PolicyHolder();
  PolicyHolder(const PolicyHolder&) = delete;
  PolicyHolder& operator=(const PolicyHolder&) = delete;

  // The state in force. Valid until this thread's next Get (of any holder).
  const PolicyState& Get() const;
  // A reference to the state in force that outlives later Gets.
  std::shared_ptr<const PolicyState> Share() const;
  void Set(std::shared_ptr<const PolicyState> state);

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const PolicyState> state_ ABSL_GUARDED_BY(mu_);
  // Process-wide unique per Set (a thread's cache is keyed by it alone).
  std::atomic<uint64_t> version_;
};

}  // namespace taala

#endif  // TAALA_SERVER_CORE_POLICY_H_
