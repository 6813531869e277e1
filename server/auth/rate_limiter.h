#ifndef TAALA_SERVER_AUTH_RATE_LIMITER_H_
#define TAALA_SERVER_AUTH_RATE_LIMITER_H_

// The request rate per identity (--max_requests_per_second_per_identity): a
// token bucket per identity, refilled at `rate` per second up to `burst`.

#include <cstddef>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace taala {
namespace auth {

// Thread safety: Take may be called concurrently.
class RateLimiter {
 public:
  // rate <= 0: no limit.
  RateLimiter(double rate, double burst) : rate_(rate), burst_(burst) {}

  // True if `identity` may make one more request at `now` (and counts it).
  bool Take(absl::string_view identity, absl::Time now);

  double rate() const { return rate_; }

 private:
  const double rate_;
  [[maybe_unused]] const double burst_;
};

}  // namespace auth
}  // namespace taala

#endif  // TAALA_SERVER_AUTH_RATE_LIMITER_H_
