#include "server/admin/lock_service_calls.h"

#include <grpcpp/grpcpp.h>

#include <string>
#include <utility>

#include "taala/v1/lock_service.grpc.pb.h"

namespace taala::admin {

struct LockServiceCalls::Stub {
  std::unique_ptr<v1::LockService::Stub> stub;
};

namespace {

// Runs one blocking call with `deadline` and converts its status.
template <typename Req, typename Resp, typename Method>
absl::Status Call(v1::LockService::Stub* stub, Method method,
                  absl::Duration deadline, const Req& req, Resp* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  const grpc::Status s = (stub->*method)(&ctx, req, resp);
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

}  // namespace

LockServiceCalls::LockServiceCalls(std::shared_ptr<grpc::Channel> channel,
                                   absl::Duration deadline)
    : stub_(new Stub{v1::LockService::NewStub(std::move(channel))}),
      deadline_(deadline) {}

LockServiceCalls::~LockServiceCalls() = default;

bool LockServiceCalls::Enter() {
  absl::MutexLock lock(&mu_);
  if (closed_) return false;
  ++calls_;
  return true;
}

void LockServiceCalls::Leave() {
  absl::MutexLock lock(&mu_);
  --calls_;
}

void LockServiceCalls::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  mu_.Await(absl::Condition(
      +[](int* calls) { return *calls == 0; }, &calls_));
}

#define TAALA_ADMIN_CALL(Name)                                            \
  absl::Status LockServiceCalls::Name(const v1::Name##Request& req,       \
                                      v1::Name##Response* resp) {         \
    if (!Enter()) {                                                       \
      return absl::UnavailableError("taalad is shutting down");           \
    }                                                                     \
    absl::Status s = Call(stub_->stub.get(), &v1::LockService::Stub::Name, \
                          deadline_, req, resp);                          \
    Leave();                                                              \
    return s;                                                             \
  }

TAALA_ADMIN_CALL(GetServerStatus)
TAALA_ADMIN_CALL(GetMetrics)
TAALA_ADMIN_CALL(ListLocks)
TAALA_ADMIN_CALL(DescribeLock)
TAALA_ADMIN_CALL(ListSessions)
TAALA_ADMIN_CALL(GetWaitForGraph)
TAALA_ADMIN_CALL(GetRecentDeadlocks)
TAALA_ADMIN_CALL(GetLeakSuspects)
TAALA_ADMIN_CALL(GetContention)
TAALA_ADMIN_CALL(GetLockStats)

#undef TAALA_ADMIN_CALL

}  // namespace taala::admin
