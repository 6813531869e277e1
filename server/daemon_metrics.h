#ifndef TAALA_SERVER_DAEMON_METRICS_H_
#define TAALA_SERVER_DAEMON_METRICS_H_

// What taalad adds to GetMetrics beyond the lock table
// (LockServiceImpl::set_metrics_source): the write-ahead log's fsync latency
// and batch sizes, and the gRPC calls being served now.

#include <atomic>
#include <cstdint>

#include "server/wal/wal.h"
#include "taala/v1/lock_service.pb.h"

namespace grpc {
class ServerBuilder;
}  // namespace grpc

namespace taala {

// Counts gRPC calls from the moment the server starts one until gRPC is
// done with it: waiting acquires and KeepAlive streams included, since each
// is a call in progress.
// Thread safety: every method may be called concurrently. A call's start
// and end bump one of several padded counters picked by the thread, so
// threads serving calls do not all write one cache line.
class InFlightCalls {
 public:
  // Registers the counting interceptor on `builder` (before BuildAndStart).
  // *this must outlive the server built.
  void InstallOn(grpc::ServerBuilder* builder);
  // Calls in progress now.
  uint64_t Count() const;

  void Add(int64_t delta);  // For the interceptor.

 private:
  static constexpr int kSlots = 16;
  struct alignas(64) Slot {
    std::atomic<int64_t> value{0};
  };
  Slot slots_[kSlots];
};

// Fills the log's histograms into `metrics`: wal_fsync_seconds (from ns)
// and wal_batch_records.
void FillWalMetrics(const wal::Wal::Stats& stats, v1::Metrics* metrics);

}  // namespace taala

#endif  // TAALA_SERVER_DAEMON_METRICS_H_
