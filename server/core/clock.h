#ifndef TAALA_SERVER_CORE_CLOCK_H_
#define TAALA_SERVER_CORE_CLOCK_H_

#include "absl/time/time.h"

namespace taala {

// Clock is where time enters the server. The lock table never reads time
// itself: callers read a Clock and put the value into each command, so that
// applying a command is deterministic and tests control time (FakeClock).
class Clock {
 public:
  virtual ~Clock() = default;
  // A monotonic instant. Only differences between instants are meaningful:
  // the real clock is steady (never jumps with NTP), not wall time.
  virtual absl::Time Now() = 0;
};

// The process's monotonic clock. Thread-safe.
Clock* RealClock();

}  // namespace taala

#endif  // TAALA_SERVER_CORE_CLOCK_H_
