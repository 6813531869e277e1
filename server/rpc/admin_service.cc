#include "server/rpc/admin_service.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/core/key.h"
#include "server/rpc/unary.h"

namespace taala {
namespace {

// A control character (C0, DEL or C1), as keys refuse them (key.h).
bool HasControl(absl::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (ControlCharAt(s, i) >= 0) return true;
  }
  return false;
}

absl::Status ValidateText(absl::string_view field, absl::string_view text,
                          size_t max_bytes) {
  if (text.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", text.size(), " bytes, at most ", max_bytes, " allowed"));
  }
  if (HasControl(text)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": control characters are not allowed"));
  }
  return absl::OkStatus();
}

// "session 3 token 7, session 4 token 9" for the log.
std::string GrantList(const std::vector<Grant>& grants) {
  if (grants.empty()) return "no grant";
  return absl::StrJoin(grants, ", ", [](std::string* out, const Grant& g) {
    absl::StrAppend(out, "key \"", EscapeControl(g.key), "\" of session ",
                    g.session_id, " (token ", g.token, ")");
  });
}

}  // namespace

absl::Status ValidateAdminReason(absl::string_view reason) {
  if (reason.empty()) {
    return absl::InvalidArgumentError(
        "reason: required (say why, for the holder and the audit trail)");
  }
  return ValidateText("reason", reason, kMaxAdminReasonBytes);
}

absl::StatusOr<std::string> AdminCaller(absl::string_view identity,
                                        absl::string_view requested_by) {
  absl::Status valid =
      ValidateText("requested_by", requested_by, kMaxRequestedByBytes);
  if (!valid.ok()) return valid;
  std::string caller(identity);
  if (!requested_by.empty()) {
    absl::StrAppend(&caller, " (requested_by ", requested_by, ")");
  }
  return caller;
}

grpc::ServerUnaryReactor* AdminServiceImpl::ForceRelease(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::ForceReleaseRequest, v1::ForceReleaseResponse>(
      table_->log(), ctx, raw, raw_resp,
      [this, ctx](auto* req, auto* resp) -> absl::Status {
        absl::StatusOr<auth::Identity> who = gate_->Admit(
            *ctx, "ForceRelease", auth::Permission::kAdmin, req->key());
        if (!who.ok()) return who.status();
        absl::Status valid = ValidateAdminReason(req->reason());
        if (!valid.ok()) return valid;
        absl::StatusOr<std::string> caller =
            AdminCaller(who->name, req->requested_by());
        if (!caller.ok()) return caller.status();
        ForceReleaseCmd cmd;
        cmd.key = req->key();
        cmd.session_id = req->session_id();
        cmd.token = req->fencing_token();
        cmd.reason = req->reason();
        cmd.caller = *caller;
        cmd.skip_lock_delay = req->skip_lock_delay();
        cmd.now = clock_->Now();
        absl::StatusOr<std::vector<Grant>> released =
            table_->ForceRelease(cmd);
        if (!released.ok()) return released.status();
        gate_->audit().AdminAction(
            *who, "ForceRelease", cmd.key,
            absl::StrCat("admin: force-release of key \"",
                         EscapeControl(cmd.key), "\" by ",
                         EscapeControl(cmd.caller), ": took ",
                         GrantList(*released),
                         cmd.skip_lock_delay ? " (lock-delay skipped)" : "",
                         "; reason: ",
                         EscapeControl(cmd.reason, /*quotes=*/false)));
        for (const Grant& g : *released) {
          ToProto(g, cmd.now, resp->add_released());
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::RevokeSession(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::RevokeSessionRequest, v1::RevokeSessionResponse>(
      table_->log(), ctx, raw, raw_resp,
      [this, ctx](auto* req, auto* resp) -> absl::Status {
        // A session may hold any key: `admin` on every key.
        absl::StatusOr<auth::Identity> who = gate_->Admit(
            *ctx, "RevokeSession", auth::Permission::kAdmin, "");
        if (!who.ok()) return who.status();
        if (req->session_id() == 0) {
          return absl::InvalidArgumentError("session_id: required");
        }
        absl::Status valid = ValidateAdminReason(req->reason());
        if (!valid.ok()) return valid;
        absl::StatusOr<std::string> caller =
            AdminCaller(who->name, req->requested_by());
        if (!caller.ok()) return caller.status();
        RevokeSessionCmd cmd;
        cmd.session_id = req->session_id();
        cmd.reason = req->reason();
        cmd.caller = *caller;
        cmd.skip_lock_delay = req->skip_lock_delay();
        cmd.now = clock_->Now();
        absl::StatusOr<LockTable::RevokeResult> result =
            table_->RevokeSession(cmd);
        if (!result.ok()) return result.status();
        gate_->audit().AdminAction(
            *who, "RevokeSession", "",
            absl::StrCat("admin: session ", cmd.session_id, " revoked by ",
                         EscapeControl(cmd.caller), ": released ",
                         GrantList(result->released), ", cancelled ",
                         result->cancelled_waits, " wait(s)",
                         cmd.skip_lock_delay ? " (lock-delays skipped)" : "",
                         "; reason: ",
                         EscapeControl(cmd.reason, /*quotes=*/false)));
        for (const Grant& g : result->released) {
          ToProto(g, cmd.now, resp->add_released());
        }
        resp->set_cancelled_waits(
            static_cast<uint32_t>(result->cancelled_waits));
        return absl::OkStatus();
      });
}

}  // namespace taala
