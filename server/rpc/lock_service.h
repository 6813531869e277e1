#ifndef TAALA_SERVER_RPC_LOCK_SERVICE_H_
#define TAALA_SERVER_RPC_LOCK_SERVICE_H_

#include <grpcpp/support/byte_buffer.h>

#include <functional>
#include <utility>

#include "server/core/clock.h"
#include "server/core/lock_table.h"
#include "server/rpc/call_gate.h"
#include "server/rpc/watch_stream.h"
#include "server/core/policy.h"
#include "taala/v1/lock_service.grpc.pb.h"

namespace taala {

// LockServiceImpl serves taala.v1.LockService on gRPC's callback API: the
// method table. Each method translates (translation.h) the request into a
// lock-table command (with the time read from `clock`), applies it and
// translates the result back; calls that may wait are handed to their
// reactors (acquire_reactor.h, event_stream.h), pending reactors rather
// than blocked threads.
// Every method (the KeepAlive stream and Watch included) takes raw bytes and parse them with server/rpc/raw_request.h,
// so a request that does not parse (or a string that is not UTF-8) gets
// INVALID_ARGUMENT naming the request or field rather than gRPC's bare
// UNIMPLEMENTED, which clients read as "a daemon older than the RPC".
// Thread safety: gRPC calls it concurrently; all state is in the table.
using LockServiceBase =
    v1::LockService::WithRawCallbackMethod_Watch<
    v1::LockService::WithRawCallbackMethod_GetPolicies<
    v1::LockService::WithRawCallbackMethod_GetLockStats<
    v1::LockService::WithRawCallbackMethod_GetLeakSuspects<
    v1::LockService::WithRawCallbackMethod_GetContention<
    v1::LockService::WithRawCallbackMethod_GetRecentDeadlocks<
    v1::LockService::WithRawCallbackMethod_GetMetrics<
    v1::LockService::WithRawCallbackMethod_AcquireAll<
    v1::LockService::WithRawCallbackMethod_GetServerStatus<
    v1::LockService::WithRawCallbackMethod_GetWaitForGraph<
    v1::LockService::WithRawCallbackMethod_CreateSession<
    v1::LockService::WithRawCallbackMethod_Acquire<
        v1::LockService::WithRawCallbackMethod_Release<
            v1::LockService::WithRawCallbackMethod_CheckFence<
                v1::LockService::WithRawCallbackMethod_DescribeLock<
                    v1::LockService::WithRawCallbackMethod_ListLocks<
                        v1::LockService::WithRawCallbackMethod_ListSessions<
                            v1::LockService::WithRawCallbackMethod_KeepAlive<
                                v1::LockService::WithRawCallbackMethod_KeepAliveOnce<
                                    v1::LockService::
                                        WithRawCallbackMethod_CloseSession<
                                            v1::LockService::Service>>>>>>>>>>>>>>>>>>>>;

class LockServiceImpl final : public LockServiceBase {
 public:
  // `table` and `clock` must outlive *this.
  LockServiceImpl(LockTable* table, Clock* clock);

  using LockServiceBase::Acquire;
  using LockServiceBase::AcquireAll;
  using LockServiceBase::GetServerStatus;
  using LockServiceBase::GetContention;
  using LockServiceBase::GetLeakSuspects;
  using LockServiceBase::GetLockStats;
  using LockServiceBase::GetMetrics;
  using LockServiceBase::GetPolicies;
  using LockServiceBase::GetRecentDeadlocks;
  using LockServiceBase::GetWaitForGraph;
  using LockServiceBase::CheckFence;
  using LockServiceBase::CloseSession;
  using LockServiceBase::CreateSession;
  using LockServiceBase::DescribeLock;
  using LockServiceBase::KeepAlive;
  using LockServiceBase::KeepAliveOnce;
  using LockServiceBase::ListLocks;
  using LockServiceBase::ListSessions;
  using LockServiceBase::Release;
  using LockServiceBase::Watch;

  grpc::ServerUnaryReactor* AcquireAll(grpc::CallbackServerContext* ctx,
                                       const grpc::ByteBuffer* raw,
                                       grpc::ByteBuffer* raw_resp) override;
  // Fills what the table does not know (durability, recovery, the log's
  // counts). Set before serving; may be called concurrently.
  void set_status_source(std::function<void(v1::ServerStatus*)> source) {
    status_source_ = std::move(source);
  }
  // Called with every new session's TTL before its reply leaves (taalad
  // persists the longest one: the grant window after an unclean stop). An
  // error fails the call. Set before serving.
  void set_session_ttl_hook(std::function<absl::Status(absl::Duration)> hook) {
    session_ttl_hook_ = std::move(hook);
  }
  // Fills what the table does not know into GetMetrics' reply (the log's
  // fsync latency and batch sizes, calls in flight). Set before serving; may
  // be called concurrently.
  void set_metrics_source(std::function<void(v1::Metrics*)> source) {
    metrics_source_ = std::move(source);
  }
  // The lock policies (taalad --policy_file) that acquires leaving fields
  // unset take, and GetPolicies and GetLockStats report. Null (the
  // default): none. Set before serving; must outlive *this.
  void set_policies(const PolicyHolder* policies) { policies_ = policies; }
  grpc::ServerUnaryReactor* GetPolicies(grpc::CallbackServerContext* ctx,
      const grpc::ByteBuffer* raw, grpc::ByteBuffer* raw_resp) override;
  // Observability (observability_rpcs.cc).
  grpc::ServerUnaryReactor* GetLockStats(grpc::CallbackServerContext* ctx,
                                         const grpc::ByteBuffer* raw,
                                         grpc::ByteBuffer* raw_resp) override;
  grpc::ServerUnaryReactor* GetLeakSuspects(grpc::CallbackServerContext* ctx,
      const grpc::ByteBuffer* raw, grpc::ByteBuffer* raw_resp) override;
  grpc::ServerUnaryReactor* GetContention(grpc::CallbackServerContext* ctx,
      const grpc::ByteBuffer* raw, grpc::ByteBuffer* raw_resp) override;
  grpc::ServerUnaryReactor* GetRecentDeadlocks(grpc::CallbackServerContext* ctx,
      const grpc::ByteBuffer* raw, grpc::ByteBuffer* raw_resp) override;
  grpc::ServerUnaryReactor* GetMetrics(grpc::CallbackServerContext* ctx,
      const grpc::ByteBuffer* raw, grpc::ByteBuffer* raw_resp) override;
  grpc::ServerUnaryReactor* GetServerStatus(grpc::CallbackServerContext* ctx,
      const grpc::ByteBuffer* raw, grpc::ByteBuffer* raw_resp) override;
  grpc::ServerUnaryReactor* GetWaitForGraph(grpc::CallbackServerContext* ctx,
      const grpc::ByteBuffer* raw, grpc::ByteBuffer* raw_resp) override;
  grpc::ServerUnaryReactor* CreateSession(grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* raw,
                                          grpc::ByteBuffer* raw_resp) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* KeepAlive(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* KeepAliveOnce(grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* raw,
                                          grpc::ByteBuffer* raw_resp) override;
  grpc::ServerUnaryReactor* CloseSession(grpc::CallbackServerContext* ctx,
                                         const grpc::ByteBuffer* raw,
                                         grpc::ByteBuffer* raw_resp) override;
  grpc::ServerUnaryReactor* Acquire(grpc::CallbackServerContext* ctx,
                                    const grpc::ByteBuffer* raw,
                                    grpc::ByteBuffer* raw_resp) override;
  grpc::ServerUnaryReactor* Release(grpc::CallbackServerContext* ctx,
                                    const grpc::ByteBuffer* raw,
                                    grpc::ByteBuffer* raw_resp) override;
  grpc::ServerUnaryReactor* CheckFence(grpc::CallbackServerContext* ctx,
                                    const grpc::ByteBuffer* raw,
                                    grpc::ByteBuffer* raw_resp) override;
  grpc::ServerUnaryReactor* DescribeLock(grpc::CallbackServerContext* ctx,
                                    const grpc::ByteBuffer* raw,
                                    grpc::ByteBuffer* raw_resp) override;
  grpc::ServerUnaryReactor* ListLocks(grpc::CallbackServerContext* ctx,
                                      const grpc::ByteBuffer* raw,
                                      grpc::ByteBuffer* raw_resp) override;
  grpc::ServerUnaryReactor* ListSessions(grpc::CallbackServerContext* ctx,
                                         const grpc::ByteBuffer* raw,
                                         grpc::ByteBuffer* raw_resp) override;
  // Who may call what (call_gate.h). Unset: open (anonymous callers, no
  // ACL, no rate limit). Set before serving; must outlive *this.
  void set_gate(CallGate* gate) { gate_ = gate; }
  // Watch (watch_stream.h): served by `pump` (unset: UNIMPLEMENTED). Set
  // before serving; it must outlive the server.
  void set_watch_pump(WatchPump* pump) { watch_pump_ = pump; }
  // Needs `read` on the watched key or prefix.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Watch(
      grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw) override;

 private:
  // OK if `who` owns session `id` (always for taalad's own calls);
  // NOT_FOUND as for an unknown session otherwise, audited as refused.
  absl::Status CheckOwner(const auth::Identity& who, uint64_t id,
                          absl::string_view call, absl::string_view key);
  CallGate open_gate_;
  CallGate* gate_ = &open_gate_;
  WatchPump* watch_pump_ = nullptr;
  LockTable* const table_;
  Clock* const clock_;
  std::function<void(v1::ServerStatus*)> status_source_;
  std::function<void(v1::Metrics*)> metrics_source_;
  std::function<absl::Status(absl::Duration)> session_ttl_hook_;
  const PolicyHolder* policies_ = nullptr;
  // The policies in force (empty without a holder). Valid until this
  // thread's next call (PolicyHolder::Get).
  const PolicySet* Policies() const;
};

}  // namespace taala

#endif  // TAALA_SERVER_RPC_LOCK_SERVICE_H_
