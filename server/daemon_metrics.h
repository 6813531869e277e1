#ifndef TAALA_SERVER_DAEMON_METRICS_H_
#define TAALA_SERVER_DAEMON_METRICS_H_

// What taalad adds to GetMetrics beyond the lock table
// (LockServiceImpl::set_metrics_source): the write-ahead log's fsync latency
// and batch sizes, and the gRPC calls being served now.

#include <cstdint>

#include "server/wal/wal.h"
#include "taala/v1/lock_service.pb.h"

namespace taala {

// gRPC calls this process's servers have started and not yet finished:
// waiting acquires and KeepAlive streams included, since each is a call in
// progress. Read from gRPC's own per-server call counters (channelz: calls
// started - succeeded - failed), which gRPC keeps anyway, so counting costs
// the serving path nothing; 0 if channelz is turned off.
uint64_t GrpcCallsInFlight();

// Fills the log's histograms into `metrics`: wal_fsync_seconds (from ns)
// and wal_batch_records.
void FillWalMetrics(const wal::Wal::Stats& stats, v1::Metrics* metrics);

}  // namespace taala

#endif  // TAALA_SERVER_DAEMON_METRICS_H_
