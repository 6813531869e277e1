#include "client/circuit_breaker.h"

namespace taala {

CircuitBreaker::CircuitBreaker(CircuitBreakerOptions options)
    : options_(options) {}

bool CircuitBreaker::Allow(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (!open_) return true;
  if (now - opened_at_ < options_.open_for) return false;
  // A probe that has not reported back within another open_for (a call
  // with no deadline, say) does not keep the circuit open: probe again.
  if (probe_in_flight_ && now - probe_started_ < options_.open_for) {
    return false;
  }
  probe_in_flight_ = true;  // Half-open: this caller is the probe.
  probe_started_ = now;
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
  if (!open_ && consecutive_failures_ >= options_.failure_threshold) {
    open_ = true;
    opened_at_ = now;
  } else if (open_ && probe_in_flight_) {
    // The probe (or a call that started before the circuit opened) failed:
    // open for another `open_for`.
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
