#include "server/core/clock.h"

#include "common/wire_time.h"

namespace taala {
namespace {

class SteadyClock final : public Clock {
 public:
  absl::Time Now() override { return SteadyNow(); }
};

}  // namespace

Clock* RealClock() {
  static SteadyClock* const clock = new SteadyClock();
  return clock;
}

}  // namespace taala
