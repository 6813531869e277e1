#ifndef TAALA_SERVER_RPC_WATCH_CALLER_H_
#define TAALA_SERVER_RPC_WATCH_CALLER_H_

// Who a Watch was authorized for, so that the open stream can check again
// after a reload (SIGHUP): a Watch sends no requests, so it checks before
// each write (watch_stream.cc), one atomic load while the config is the
// one that admitted it.

#include <grpcpp/server_context.h>

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "server/auth/identity.h"
#include "server/rpc/call_gate.h"

namespace taala {

// Not thread-safe: the stream's mutex guards it.
class WatchCaller {
 public:
  // Never checked again (a Watch served without a gate).
  WatchCaller() = default;
  // `version`: gate->config_version() read BEFORE `who` was authenticated.
  // `ctx` is the Watch call's: it lives until the reactor's OnDone.
  WatchCaller(CallGate* gate, const grpc::ServerContextBase* ctx,
              auth::Identity who, std::string key, uint64_t version)
      : gate_(gate),
        ctx_(ctx),
        who_(std::move(who)),
        key_(std::move(key)),
        version_(version) {}

  // OK while the config is unchanged; after a reload, the caller is
  // identified again from its call and must still have `read` on the key
  // or prefix: else UNAUTHENTICATED or PERMISSION_DENIED (audited). Only
  // while the call lives (before OnDone).
  absl::Status Check();

 private:
  CallGate* gate_ = nullptr;
  const grpc::ServerContextBase* ctx_ = nullptr;
  auth::Identity who_;
  std::string key_;
  uint64_t version_ = 0;
  absl::Status refused_;  // Not OK: refused after a reload.
};

}  // namespace taala

#endif  // TAALA_SERVER_RPC_WATCH_CALLER_H_
