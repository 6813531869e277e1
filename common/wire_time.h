// File: common/wire_time.h
// -----------------------------------------------------------------------------
// Times and durations as taala.v1 carries them, shared by the server and the
// client library so that both sides read a field the same way; and the one
// monotonic clock helper. No gRPC, no protobuf: plain integers in and out.
//
// On the wire a duration is an int64 count of milliseconds. Where a field can
// mean "no limit" (a wait timeout, a remaining time that never runs out) that
// is kInfiniteMs (-1); every other negative value is clamped or refused by the
// caller, never read as a huge duration.

#ifndef TAALA_COMMON_WIRE_TIME_H_
#define TAALA_COMMON_WIRE_TIME_H_

#include <cstdint>

#include "absl/time/time.h"

namespace taala {

// "No limit" on the wire.
inline constexpr int64_t kInfiniteMs = -1;

// A duration for the wire: InfiniteDuration gives kInfiniteMs, a negative
// duration 0, anything else its whole milliseconds (rounded down).
int64_t DurationToMs(absl::Duration d);

// A wire duration where negative means "no limit": any negative value gives
// InfiniteDuration, anything else that many milliseconds.
absl::Duration DurationFromMs(int64_t ms);

// The process's monotonic clock as an absl::Time. Only differences between
// its instants mean anything: it never jumps with the wall clock (NTP), so
// leases and timeouts measured with it cannot stretch or shrink.
absl::Time SteadyNow();

}  // namespace taala

#endif  // TAALA_COMMON_WIRE_TIME_H_
