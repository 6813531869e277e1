#ifndef TAALA_CLIENT_CIRCUIT_BREAKER_H_
#define TAALA_CLIENT_CIRCUIT_BREAKER_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/lock_client.h"

namespace taala {

// Fails calls fast while the server is down. Closed: every call goes
// through; `failure_threshold` consecutive failures open it. Open: calls are
// refused until `open_for` has passed; then it is half-open and lets exactly
// one probe through: its success closes the circuit, its failure opens it
// again. Time is passed in, so tests need no clock.
// Thread safety: all methods may be called concurrently.
class CircuitBreaker {
 public:
  explicit CircuitBreaker(CircuitBreakerOptions options);

  // True if a call may go ahead now. In half-open state only the first
  // caller gets true (the probe) until it reports back.
  bool Allow(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  void RecordSuccess() ABSL_LOCKS_EXCLUDED(mu_);
  void RecordFailure(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  CircuitState state(absl::Time now) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const CircuitBreakerOptions options_;
  mutable absl::Mutex mu_;
  int consecutive_failures_ ABSL_GUARDED_BY(mu_) = 0;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time opened_at_ ABSL_GUARDED_BY(mu_);
  bool probe_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time probe_started_ ABSL_GUARDED_BY(mu_);
};

}  // namespace taala

#endif  // TAALA_CLIENT_CIRCUIT_BREAKER_H_
