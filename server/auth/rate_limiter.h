#ifndef TAALA_SERVER_AUTH_RATE_LIMITER_H_
#define TAALA_SERVER_AUTH_RATE_LIMITER_H_

// The request rate per identity (--max_requests_per_second_per_identity): a
// token bucket per identity, refilled at `rate` per second up to `burst`.
//
// Buckets live in kShards shards, each with its own mutex, chosen by a hash
// of the identity, so concurrent callers rarely share a lock. A bucket that
// has refilled to `burst` is the same as no bucket, so each shard drops such
// buckets in a sweep (at most once per refill time, burst / rate): memory
// grows with the identities that called in the last refill time, not with
// every identity ever seen.

#include <array>
#include <cstddef>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace taala {
namespace auth {

// Thread safety: Take may be called concurrently.
class RateLimiter {
 public:
  // rate <= 0: no limit. burst < 1 is raised to 1 (a bucket must hold one
  // request).
  RateLimiter(double rate, double burst);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // True if `identity` may make one more request at `now` (and counts it).
  // `now` should not go backwards by much; a step back refills nothing.
  bool Take(absl::string_view identity, absl::Time now);

  double rate() const { return rate_; }
  double burst() const { return burst_; }
  // Buckets held (identities below a full bucket), for tests.
  size_t BucketCount();

 private:
  struct Bucket {
    double tokens;
    absl::Time last;
  };
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, Bucket> buckets ABSL_GUARDED_BY(mu);
    absl::Time next_sweep ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  };
  static constexpr size_t kShards = 16;

  void SweepLocked(Shard& shard, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  const double rate_;
  const double burst_;
  // Time for an empty bucket to fill: a bucket idle this long is full.
  const absl::Duration refill_;
  std::array<Shard, kShards> shards_;
};

}  // namespace auth
}  // namespace taala

#endif  // TAALA_SERVER_AUTH_RATE_LIMITER_H_
