// LockServiceImpl's observability methods: statistics, leak suspects,
// contention, recent deadlocks and metrics.

#include "absl/status/status.h"
#include "server/rpc/lock_service.h"
#include "server/rpc/unary.h"

namespace taala {

grpc::ServerUnaryReactor* LockServiceImpl::GetLockStats(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::GetLockStatsRequest, v1::GetLockStatsResponse>(
      table_->log(), ctx, raw, raw_resp, [](auto* req, auto* resp) {
        return absl::UnimplementedError("GetLockStats: not yet");
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::GetLeakSuspects(
    grpc::CallbackServerContext* ctx, const v1::GetLeakSuspectsRequest* req,
    v1::GetLeakSuspectsResponse* resp) {
  return FinishNow(table_->log(), ctx,
                   absl::UnimplementedError("GetLeakSuspects: not yet"));
}

grpc::ServerUnaryReactor* LockServiceImpl::GetContention(
    grpc::CallbackServerContext* ctx, const v1::GetContentionRequest* req,
    v1::GetContentionResponse* resp) {
  return FinishNow(table_->log(), ctx,
                   absl::UnimplementedError("GetContention: not yet"));
}

grpc::ServerUnaryReactor* LockServiceImpl::GetRecentDeadlocks(
    grpc::CallbackServerContext* ctx, const v1::GetRecentDeadlocksRequest* req,
    v1::GetRecentDeadlocksResponse* resp) {
  return FinishNow(table_->log(), ctx,
                   absl::UnimplementedError("GetRecentDeadlocks: not yet"));
}

grpc::ServerUnaryReactor* LockServiceImpl::GetMetrics(
    grpc::CallbackServerContext* ctx, const v1::GetMetricsRequest* req,
    v1::GetMetricsResponse* resp) {
  v1::Metrics* metrics = resp->mutable_metrics();
  metrics->set_sessions(table_->SessionCount());
  metrics->set_keys(table_->KeyCount());
  if (metrics_source_) metrics_source_(metrics);
  return FinishNow(table_->log(), ctx, absl::OkStatus());
}

}  // namespace taala
