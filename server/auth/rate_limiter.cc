#include "server/auth/rate_limiter.h"

#include <algorithm>

#include "absl/hash/hash.h"

namespace taala {
namespace auth {

RateLimiter::RateLimiter(double rate, double burst)
    : rate_(rate),
      burst_(std::max(burst, 1.0)),
      refill_(rate > 0 ? absl::Seconds(std::max(burst, 1.0) / rate)
                       : absl::InfiniteDuration()) {}

bool RateLimiter::Take(absl::string_view identity, absl::Time now) {
  if (rate_ <= 0) return true;
  Shard& shard = shards_[(absl::HashOf(identity) >> 32) % kShards];
  absl::MutexLock lock(&shard.mu);
  if (now >= shard.next_sweep) SweepLocked(shard, now);
  auto it = shard.buckets.find(identity);
  if (it == shard.buckets.end()) {
    // No bucket: full. Most identities stay well below their rate, so the
    // common case is one insert per identity per refill time.
    shard.buckets.emplace(std::string(identity), Bucket{burst_ - 1, now});
    return true;
  }
  Bucket& b = it->second;
  if (now > b.last) {
    b.tokens = std::min(
        burst_, b.tokens + absl::ToDoubleSeconds(now - b.last) * rate_);
    b.last = now;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void RateLimiter::SweepLocked(Shard& shard, absl::Time now) {
  // A bucket untouched for refill_ is full again: forget it.
  for (auto it = shard.buckets.begin(); it != shard.buckets.end();) {
    auto here = it++;
    if (now - here->second.last >= refill_) shard.buckets.erase(here);
  }
  shard.next_sweep = now + std::max(refill_, absl::Seconds(1));
}

size_t RateLimiter::BucketCount() {
  size_t n = 0;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    n += shard.buckets.size();
  }
  return n;
}

}  // namespace auth
}  // namespace taala
