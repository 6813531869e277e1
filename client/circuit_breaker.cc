#include "client/circuit_breaker.h"

namespace taala {

CircuitBreaker::CircuitBreaker(CircuitBreakerOptions options)
    : options_(options) {}

bool CircuitBreaker::Allow(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (!open_) return true;
  if (now - opened_at_ < options_.open_for) return false;
  if (probe_in_flight_) return false;
  probe_in_flight_ = true;  // Half-open: this caller is the probe.
  return true;
}

void CircuitBreaker::RecordSuccess() {
  absl::MutexLock lock(&mu_);
  consecutive_failures_ = 0;
  open_ = false;
  probe_in_flight_ = false;
}

void CircuitBreaker::RecordFailure(absl::Time now) {
  absl::MutexLock lock(&mu_);
  ++consecutive_failures_;
  if (open_ || consecutive_failures_ >= options_.failure_threshold) {
    // A failed probe (or the threshold reached) opens it for another
    // `open_for`.
    open_ = true;
    opened_at_ = now;
    probe_in_flight_ = false;
  }
}

CircuitState CircuitBreaker::state(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  if (!open_) return CircuitState::kClosed;
  return now - opened_at_ < options_.open_for ? CircuitState::kOpen
                                               : CircuitState::kHalfOpen;
}

}  // namespace taala
