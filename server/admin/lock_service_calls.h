#ifndef TAALA_SERVER_ADMIN_LOCK_SERVICE_CALLS_H_
#define TAALA_SERVER_ADMIN_LOCK_SERVICE_CALLS_H_

// The admin listener's only way to the lock table: blocking calls to the
// daemon's own LockService through a channel (the server's in-process
// channel in taalad), so that HTTP shows exactly what gRPC shows. Each call
// has a deadline and returns gRPC's status as an absl::Status (same codes).
// No gRPC type in this header: the channel is only declared.
//
// Close() ends the calls: gRPC must not be given a new in-process call once
// its server shuts down (a call created then crashes inside gRPC 1.51), so
// taalad closes this before it shuts the server down.
//
// Thread safety: every method may be called concurrently. mu_ is a leaf,
// never held during a call.

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "taala/v1/lock_service.pb.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace taala::admin {

class LockServiceCalls {
 public:
  LockServiceCalls(std::shared_ptr<grpc::Channel> channel,
                   absl::Duration deadline);
  ~LockServiceCalls();

  // From now on every call answers UNAVAILABLE without reaching the
  // channel; returns once the calls under way have finished.
  void Close() ABSL_LOCKS_EXCLUDED(mu_);

  absl::Status GetServerStatus(const v1::GetServerStatusRequest& req,
                               v1::GetServerStatusResponse* resp);
  absl::Status GetMetrics(const v1::GetMetricsRequest& req,
                          v1::GetMetricsResponse* resp);
  absl::Status ListLocks(const v1::ListLocksRequest& req,
                         v1::ListLocksResponse* resp);
  absl::Status DescribeLock(const v1::DescribeLockRequest& req,
                            v1::DescribeLockResponse* resp);
  absl::Status ListSessions(const v1::ListSessionsRequest& req,
                            v1::ListSessionsResponse* resp);
  absl::Status GetWaitForGraph(const v1::GetWaitForGraphRequest& req,
                               v1::GetWaitForGraphResponse* resp);
  absl::Status GetRecentDeadlocks(const v1::GetRecentDeadlocksRequest& req,
                                  v1::GetRecentDeadlocksResponse* resp);
  absl::Status GetLeakSuspects(const v1::GetLeakSuspectsRequest& req,
                               v1::GetLeakSuspectsResponse* resp);
  absl::Status GetContention(const v1::GetContentionRequest& req,
                             v1::GetContentionResponse* resp);
  absl::Status GetLockStats(const v1::GetLockStatsRequest& req,
                            v1::GetLockStatsResponse* resp);

 private:
  struct Stub;
  // Counts the call in (false: closed) and out.
  bool Enter() ABSL_LOCKS_EXCLUDED(mu_);
  void Leave() ABSL_LOCKS_EXCLUDED(mu_);

  std::unique_ptr<Stub> stub_;
  const absl::Duration deadline_;
  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace taala::admin

#endif  // TAALA_SERVER_ADMIN_LOCK_SERVICE_CALLS_H_
