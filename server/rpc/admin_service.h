#ifndef TAALA_SERVER_RPC_ADMIN_SERVICE_H_
#define TAALA_SERVER_RPC_ADMIN_SERVICE_H_

#include <grpcpp/support/byte_buffer.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/core/clock.h"
#include "server/core/lock_table.h"
#include "server/rpc/call_gate.h"
#include "taala/v1/admin_service.grpc.pb.h"

namespace taala {

// AdminServiceImpl serves taala.v1.AdminService (operator actions on other
// clients' locks and sessions: docs/admin.md) on the callback API, beside
// LockServiceImpl on the same server. Requests arrive as raw bytes
// (raw_request.h), so a string that is not UTF-8 gets INVALID_ARGUMENT
// naming the field. Each action is recorded by the table with its reason
// and caller (the audit trail in the log), logged at warning once the table
// is done with it (never under a table mutex), and answered once its
// records are durable (durable_finish.h).
// Thread safety: gRPC calls it concurrently; all state is in the table.
using AdminServiceBase = v1::AdminService::WithRawCallbackMethod_ForceRelease<
    v1::AdminService::WithRawCallbackMethod_RevokeSession<
        v1::AdminService::Service>>;

class AdminServiceImpl final : public AdminServiceBase {
 public:
  // `table` and `clock` must outlive *this.
  AdminServiceImpl(LockTable* table, Clock* clock)
      : table_(table), clock_(clock) {}

  grpc::ServerUnaryReactor* ForceRelease(grpc::CallbackServerContext* ctx,
                                         const grpc::ByteBuffer* raw,
                                         grpc::ByteBuffer* raw_resp) override;
  grpc::ServerUnaryReactor* RevokeSession(grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* raw,
                                          grpc::ByteBuffer* raw_resp) override;
  // Who may call (call_gate.h; `admin` on the key, or on every key to
  // revoke a session). Unset: open. Set before serving; must outlive *this.
  void set_gate(CallGate* gate) { gate_ = gate; }

 private:
  LockTable* const table_;
  Clock* const clock_;
  CallGate open_gate_;
  CallGate* gate_ = &open_gate_;
};

// The longest reason an admin request may give, in bytes.
inline constexpr size_t kMaxAdminReasonBytes = 1024;
// The longest requested_by, in bytes.
inline constexpr size_t kMaxRequestedByBytes = 256;

// OK if `reason` is a usable reason: not empty, at most
// kMaxAdminReasonBytes, no control characters (C0, DEL, C1).
// INVALID_ARGUMENT naming the field otherwise.
absl::Status ValidateAdminReason(absl::string_view reason);
// Who asked, for the audit trail: the caller's identity (call_gate.h),
// and what the operator says in requested_by (validated as a reason, but
// may be empty).
absl::StatusOr<std::string> AdminCaller(absl::string_view identity,
                                        absl::string_view requested_by);

}  // namespace taala

#endif  // TAALA_SERVER_RPC_ADMIN_SERVICE_H_
