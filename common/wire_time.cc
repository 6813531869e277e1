#include "common/wire_time.h"

#include <algorithm>
#include <chrono>

namespace taala {

int64_t DurationToMs(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return kInfiniteMs;
  return std::max<int64_t>(0, absl::ToInt64Milliseconds(d));
}

absl::Duration DurationFromMs(int64_t ms) {
  if (ms < 0) return absl::InfiniteDuration();
  return absl::Milliseconds(ms);
}

absl::Time SteadyNow() {
  return absl::UnixEpoch() +
         absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

}  // namespace taala
