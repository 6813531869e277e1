#include "server/clock.h"

#include <chrono>

namespace taala {
namespace {

class SteadyClock final : public Clock {
 public:
  absl::Time Now() override {
    return absl::UnixEpoch() +
           absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
  }
};

}  // namespace

Clock* RealClock() {
  static SteadyClock* const clock = new SteadyClock();
  return clock;
}

}  // namespace taala
