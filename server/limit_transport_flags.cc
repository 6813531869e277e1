#include "server/limit_transport_flags.h"

#include <grpc/grpc.h>

#include <limits>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(double, max_requests_per_second_per_identity, 100000,
          "Requests per second one identity may make (a token bucket with a "
          "burst of one second's worth); past it calls get "
          "RESOURCE_EXHAUSTED. 0: no limit.");
ABSL_FLAG(int64_t, max_request_bytes, 1 << 20,
          "Largest request message taalad accepts, in bytes (the largest "
          "legitimate one, an AcquireAll of 128 keys of 1 KiB, is about "
          "140 KiB); larger ones get RESOURCE_EXHAUSTED.");
ABSL_FLAG(int32_t, max_calls_per_connection, 10000,
          "Concurrent calls (HTTP/2 streams) per client connection; a "
          "client's calls past it wait in its channel until one ends.");
ABSL_FLAG(absl::Duration, idle_connection_timeout, absl::Minutes(30),
          "Close a client connection that has had no call in flight for "
          "this long (a KeepAlive stream or a waiting Acquire is a call); "
          "the client reconnects on its next call.");
ABSL_FLAG(std::string, memory_budget, "50%",
          "taalad's memory budget: bytes with an optional KiB/MiB/GiB suffix, "
          "or a percentage of physical memory (of the cgroup's memory limit "
          "when that is smaller: a container's). Above it (resident set size) "
          "new sessions and waits get RESOURCE_EXHAUSTED; keepalives, "
          "releases and holders are served.");

namespace taala {

absl::Status ApplyTransportLimits(grpc::ServerBuilder* builder) {
  // The rate limiter is built elsewhere (the CallGate's wiring); a bad rate
  // still stops taalad before it listens.
  if (absl::StatusOr<std::unique_ptr<auth::RateLimiter>> limiter =
          MakeRateLimiter();
      !limiter.ok()) {
    return limiter.status();
  }
  const int64_t bytes = absl::GetFlag(FLAGS_max_request_bytes);
  if (bytes < 1024 || bytes > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(
        "--max_request_bytes must be between 1024 and 2^31-1");
  }
  const int32_t streams = absl::GetFlag(FLAGS_max_calls_per_connection);
  if (streams < 1) {
    return absl::InvalidArgumentError("--max_calls_per_connection must be >= 1");
  }
  const absl::Duration idle = absl::GetFlag(FLAGS_idle_connection_timeout);
  if (idle < absl::Seconds(1) || idle > absl::Hours(24 * 365)) {
    return absl::InvalidArgumentError(
        "--idle_connection_timeout must be between 1s and 8760h");
  }
  builder->SetMaxReceiveMessageSize(static_cast<int>(bytes));
  builder->AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, streams);
  builder->AddChannelArgument(
      GRPC_ARG_MAX_CONNECTION_IDLE_MS,
      static_cast<int>(absl::ToInt64Milliseconds(idle)));
  // Call metadata (bearer tokens, deadlines) stays small: gRPC's 8 KiB
  // default, said explicitly so that it is documented in one place.
  builder->AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 8 * 1024);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<auth::RateLimiter>> MakeRateLimiter() {
  const double rate = absl::GetFlag(FLAGS_max_requests_per_second_per_identity);
  if (!(rate >= 0) || rate > 1e9) {
    return absl::InvalidArgumentError(
        "--max_requests_per_second_per_identity must be between 0 (no limit) "
        "and 1e9");
  }
  return std::make_unique<auth::RateLimiter>(rate, rate);
}

absl::StatusOr<uint64_t> MemoryBudgetBytes() {
  return ParseMemoryBudget(absl::GetFlag(FLAGS_memory_budget),
                           AvailableMemoryBytes());
}

absl::StatusOr<std::unique_ptr<MemoryMonitor>> StartMemoryMonitor(
    std::function<void(bool over, std::string message)> on_change) {
  absl::StatusOr<uint64_t> budget = MemoryBudgetBytes();
  if (!budget.ok()) return budget.status();
  MemoryMonitor::Options options;
  options.budget_bytes = *budget;
  const std::string flag = absl::GetFlag(FLAGS_memory_budget);
  options.on_change = [flag, on_change = std::move(on_change)](
                          bool over, uint64_t rss) {
    std::string message = MemoryBudgetMessage(flag, rss);
    if (over) {
      spdlog::warn("{}: new sessions and waits are refused", message);
    } else {
      spdlog::info("memory: RSS {} bytes is back under --memory_budget={}",
                   rss, flag);
    }
    if (on_change) on_change(over, std::move(message));
  };
  auto monitor = std::make_unique<MemoryMonitor>(std::move(options));
  monitor->Start();
  return monitor;
}

}  // namespace taala
