#ifndef TAALA_SERVER_ADMIN_LOCK_SERVICE_CALLS_H_
#define TAALA_SERVER_ADMIN_LOCK_SERVICE_CALLS_H_

// The admin listener's only way to the lock table: blocking calls to the
// daemon's own LockService through a channel (the server's in-process
// channel in taalad), so that HTTP shows exactly what gRPC shows. Each call
// has a deadline and returns gRPC's status as an absl::Status (same codes).
// No gRPC type in this header: the channel is only declared.
//
// Thread safety: every method may be called concurrently.

#include <memory>

#include "absl/status/status.h"
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
  std::unique_ptr<Stub> stub_;
  const absl::Duration deadline_;
};

}  // namespace taala::admin

#endif  // TAALA_SERVER_ADMIN_LOCK_SERVICE_CALLS_H_
