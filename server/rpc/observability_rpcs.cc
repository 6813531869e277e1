// LockServiceImpl's observability methods: statistics, leak suspects,
// contention, recent deadlocks, metrics and the lock policies. With
// statistics off (taalad --stats=false) they answer empty figures, not
// errors.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/wire_time.h"
#include "server/rpc/lock_service.h"
#include "server/rpc/stats_translation.h"
#include "server/rpc/raw_request.h"
#include "server/rpc/unary.h"

namespace taala {

using auth::Permission;

namespace {

// A Watch refused before it starts (its caller or its key).
class RefusedWatch final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit RefusedWatch(const absl::Status& s) { Finish(ToGrpcStatus(s)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* LockServiceImpl::Watch(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw) {
  // Read first: a reload after it makes the stream check again.
  const uint64_t config_version = gate_->config_version();
  absl::StatusOr<auth::Identity> who = gate_->Authenticate(*ctx, "Watch");
  if (!who.ok()) return new RefusedWatch(who.status());
  // A request that does not parse is the reactor's to refuse (it names
  // what is wrong); one that names a key and a prefix too.
  v1::WatchRequest req;
  std::string what;
  if (ParseRequest(*raw, &req).ok()) {
    what = req.key().empty() ? req.prefix() : req.key();
    if (absl::Status s = gate_->Authorize(*who, Permission::kRead, what,
                                          "Watch");
        !s.ok()) {
      return new RefusedWatch(s);
    }
  }
  return NewWatchReactor(
      watch_pump_, *raw,
      WatchCaller(gate_, ctx, *std::move(who), what, config_version));
}

grpc::ServerUnaryReactor* LockServiceImpl::GetLockStats(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::GetLockStatsRequest, v1::GetLockStatsResponse>(
      table_->log(), ctx, raw, raw_resp, [this, ctx](auto* req, auto* resp) {
        absl::StatusOr<auth::Identity> who = gate_->Admit(
            *ctx, "GetLockStats", Permission::kRead,
            req->key().empty() ? req->prefix() : req->key());
        if (!who.ok()) return who.status();
        absl::StatusOr<LockStats> stats =
            table_->GetLockStats(req->key(), req->prefix());
        if (!stats.ok()) return stats.status();
        ToProto(*stats, resp->mutable_stats());
        // A prefix's policy: the longest policy prefix it starts with.
        const KeyPolicy* policy = Policies()->Find(
            req->key().empty() ? req->prefix() : req->key());
        if (policy != nullptr) ToProto(*policy, resp->mutable_policy());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::GetLeakSuspects(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::GetLeakSuspectsRequest, v1::GetLeakSuspectsResponse>(
      table_->log(), ctx, raw, raw_resp, [this, ctx](auto* req, auto* resp) {
        absl::StatusOr<auth::Identity> who =
            gate_->Admit(*ctx, "GetLeakSuspects", Permission::kRead, "");
        if (!who.ok()) return who.status();
        absl::Status valid = ValidateLeakRequest(*req);
        if (!valid.ok()) return valid;
        const absl::Time now = clock_->Now();
        const absl::Duration threshold =
            req->held_longer_than_ms() > 0
                ? DurationFromMs(req->held_longer_than_ms())
                : absl::ZeroDuration();
        const LeakReport report = table_->GetLeakSuspects(
            threshold, req->p99_factor(), LeakLimit(req->limit()), now);
        ToProto(report, now, resp);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::GetContention(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::GetContentionRequest, v1::GetContentionResponse>(
      table_->log(), ctx, raw, raw_resp, [this, ctx](auto* req, auto* resp) {
        absl::StatusOr<auth::Identity> who =
            gate_->Admit(*ctx, "GetContention", Permission::kRead, "");
        if (!who.ok()) return who.status();
        ToProto(table_->GetContention(ContentionLimit(req->limit()),
                                      clock_->Now()),
                resp);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::GetRecentDeadlocks(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::GetRecentDeadlocksRequest,
                  v1::GetRecentDeadlocksResponse>(
      table_->log(), ctx, raw, raw_resp, [this, ctx](auto* req, auto* resp) {
        absl::StatusOr<auth::Identity> who =
            gate_->Admit(*ctx, "GetRecentDeadlocks", Permission::kRead, "");
        if (!who.ok()) return who.status();
        uint64_t total = 0;
        std::vector<DeadlockRecord> deadlocks =
            table_->RecentDeadlocks(DeadlockLimit(req->limit()), &total);
        ToProto(deadlocks, total, resp);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::GetMetrics(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::GetMetricsRequest, v1::GetMetricsResponse>(
      table_->log(), ctx, raw, raw_resp, [this, ctx](auto*, auto* resp) {
        absl::StatusOr<auth::Identity> who =
            gate_->Admit(*ctx, "GetMetrics", Permission::kRead, "");
        if (!who.ok()) return who.status();
        v1::Metrics* metrics = resp->mutable_metrics();
        // The table's figures first; then the hook adds what only taalad
        // knows (the log's fsync latency and batch sizes, calls in flight).
        ToProto(table_->GetMetrics(), metrics);
        metrics->set_sessions(table_->SessionCount());
        metrics->set_keys(table_->KeyCount());
        if (metrics_source_) metrics_source_(metrics);
        return absl::OkStatus();
      });
}

const PolicySet* LockServiceImpl::Policies() const {
  static const PolicySet* const kNone = new PolicySet();
  return policies_ == nullptr ? kNone : policies_->Get().set.get();
}

grpc::ServerUnaryReactor* LockServiceImpl::GetPolicies(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::GetPoliciesRequest, v1::GetPoliciesResponse>(
      table_->log(), ctx, raw, raw_resp, [this, ctx](auto*, auto* resp) {
        absl::StatusOr<auth::Identity> who =
            gate_->Admit(*ctx, "GetPolicies", Permission::kRead, "");
        if (!who.ok()) return who.status();
        if (policies_ != nullptr) ToProto(*policies_->Share(), resp);
        return absl::OkStatus();
      });
}

}  // namespace taala
