#ifndef TAALA_SERVER_RPC_STATS_TRANSLATION_H_
#define TAALA_SERVER_RPC_STATS_TRANSLATION_H_

// Translation of the statistics queries' results (server/core/
// stats_queries.h) into taala.v1 messages, and their request limits. Plain
// protobuf: nothing here needs gRPC.

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/core/lock_table.h"
#include "server/core/policy.h"
#include "taala/v1/lock_service.pb.h"

namespace taala {

// Request limits: 0 takes the default, above the maximum is lowered to it.
uint32_t LeakLimit(uint32_t requested);        // 100, at most 1000.
uint32_t ContentionLimit(uint32_t requested);  // 10, at most 100.
uint32_t DeadlockLimit(uint32_t requested);    // 20, at most 100.

// GetLeakSuspects' thresholds: INVALID_ARGUMENT naming the field when
// held_longer_than_ms is negative or p99_factor is negative, NaN or
// infinite (zero takes the daemon's default). A silent fallback to the
// default would turn a client's overflowed "held longer than 1 s" into
// "longer than 10 min" and hide the leaks it looks for.
absl::Status ValidateLeakRequest(const v1::GetLeakSuspectsRequest& req);

void ToProto(const QuantileSketch& sketch, v1::DurationQuantiles* out);
void ToProto(const AcquireCounts& counts, v1::AcquireOutcomes* out);
void ToProto(const FixedHistogram& h, v1::Histogram* out);
void ToProto(const LockStats& stats, v1::KeyStats* out);
// `now`: the table's time the report was taken at (ages).
void ToProto(const LeakReport& report, absl::Time now,
             v1::GetLeakSuspectsResponse* out);
void ToProto(const ContentionReport& report, v1::GetContentionResponse* out);
void ToProto(const std::vector<DeadlockRecord>& deadlocks, uint64_t total,
             v1::GetRecentDeadlocksResponse* out);
// The table's fields of Metrics (sessions and keys aside).
void ToProto(const TableMetrics& m, v1::Metrics* out);
// A lock policy (GetLockStats, GetPolicies).
void ToProto(const KeyPolicy& policy, v1::LockPolicy* out);
// The policies in force and their loads.
void ToProto(const PolicyState& state, v1::GetPoliciesResponse* out);

}  // namespace taala

#endif  // TAALA_SERVER_RPC_STATS_TRANSLATION_H_
