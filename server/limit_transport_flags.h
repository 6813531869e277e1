#ifndef TAALA_SERVER_LIMIT_TRANSPORT_FLAGS_H_
#define TAALA_SERVER_LIMIT_TRANSPORT_FLAGS_H_

// taalad's transport limits, the request rate per identity and the memory
// budget (docs/security.md, "Transport limits, rate limits and the memory
// budget"), kept out of main.cc.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <grpcpp/server_builder.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/auth/rate_limiter.h"
#include "server/memory_monitor.h"

namespace taala {

// --max_request_bytes (largest request message), --max_calls_per_connection
// (HTTP/2 concurrent streams per connection) and --idle_connection_timeout
// on the builder. INVALID_ARGUMENT naming the flag for a value out of range
// (--max_requests_per_second_per_identity is checked here too).
absl::Status ApplyTransportLimits(grpc::ServerBuilder* builder);

// The token bucket of --max_requests_per_second_per_identity (burst: one
// second's worth), for the CallGate. INVALID_ARGUMENT below 0.
absl::StatusOr<std::unique_ptr<auth::RateLimiter>> MakeRateLimiter();

// --memory_budget in bytes (a percentage is of PhysicalMemoryBytes()).
absl::StatusOr<uint64_t> MemoryBudgetBytes();

// Starts the monitor of --memory_budget. `on_change(over, message)` runs on
// the monitor thread when RSS crosses the budget; `message` is
// MemoryBudgetMessage ("limit --memory_budget=<flag> reached: RSS <n>
// bytes"), what refusals above the budget should say. The crossing is also
// logged here.
absl::StatusOr<std::unique_ptr<MemoryMonitor>> StartMemoryMonitor(
    std::function<void(bool over, std::string message)> on_change);

}  // namespace taala

#endif  // TAALA_SERVER_LIMIT_TRANSPORT_FLAGS_H_
