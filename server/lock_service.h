#ifndef TAALA_SERVER_LOCK_SERVICE_H_
#define TAALA_SERVER_LOCK_SERVICE_H_

#include "server/clock.h"
#include "server/lock_table.h"
#include "taala/v1/lock_service.grpc.pb.h"

namespace taala {

// LockServiceImpl serves taala.v1.LockService on gRPC's callback API. It only
// translates: requests become lock-table commands (with the time read from
// `clock`), results become responses. A waiting Acquire is a pending reactor,
// not a blocked thread.
// Thread safety: gRPC calls it concurrently; all state is in the table.
class LockServiceImpl final : public v1::LockService::CallbackService {
 public:
  // `table` and `clock` must outlive *this.
  LockServiceImpl(LockTable* table, Clock* clock);

  grpc::ServerUnaryReactor* CreateSession(
      grpc::CallbackServerContext* ctx, const v1::CreateSessionRequest* req,
      v1::CreateSessionResponse* resp) override;
  grpc::ServerBidiReactor<v1::KeepAliveRequest, v1::KeepAliveResponse>*
  KeepAlive(grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* KeepAliveOnce(grpc::CallbackServerContext* ctx,
                                          const v1::KeepAliveRequest* req,
                                          v1::KeepAliveResponse* resp) override;
  grpc::ServerUnaryReactor* CloseSession(
      grpc::CallbackServerContext* ctx, const v1::CloseSessionRequest* req,
      v1::CloseSessionResponse* resp) override;
  grpc::ServerUnaryReactor* Acquire(grpc::CallbackServerContext* ctx,
                                    const v1::AcquireRequest* req,
                                    v1::AcquireResponse* resp) override;
  grpc::ServerUnaryReactor* Release(grpc::CallbackServerContext* ctx,
                                    const v1::ReleaseRequest* req,
                                    v1::ReleaseResponse* resp) override;
  grpc::ServerUnaryReactor* CheckFence(grpc::CallbackServerContext* ctx,
                                       const v1::CheckFenceRequest* req,
                                       v1::CheckFenceResponse* resp) override;
  grpc::ServerUnaryReactor* DescribeLock(
      grpc::CallbackServerContext* ctx, const v1::DescribeLockRequest* req,
      v1::DescribeLockResponse* resp) override;

 private:
  LockTable* const table_;
  Clock* const clock_;
};

}  // namespace taala

#endif  // TAALA_SERVER_LOCK_SERVICE_H_
