#include "server/auth/rate_limiter.h"

namespace taala {
namespace auth {

// Skeleton (issue 12): the limits helper replaces this.
bool RateLimiter::Take(absl::string_view identity, absl::Time now) {
  (void)identity;
  (void)now;
  return true;
}

}  // namespace auth
}  // namespace taala
