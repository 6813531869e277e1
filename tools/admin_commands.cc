// force-release, revoke: an operator's actions on other clients' locks and
// sessions (taala.v1.AdminService, docs/admin.md); release: the plain
// LockService.Release on behalf of a session whose process is gone but
// whose session lives. Each prints what was taken from whom, with tokens,
// or the response as proto3 JSON.

#include <grpcpp/create_channel.h>
#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "taala/v1/admin_service.grpc.pb.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/exit_codes.h"
#include "tools/text_table.h"
#include "tools/utf8.h"

namespace taala::tools {
namespace {

std::unique_ptr<v1::AdminService::Stub> NewAdminStub(const Invocation& inv) {
  return v1::AdminService::NewStub(NewChannel(inv));
}

// "$USER@hostname", recorded beside the caller's address (not
// authenticated: the operator's word). The daemon refuses control
// characters and more than 256 bytes (docs/admin.md), so whatever the
// environment holds is cut to fit rather than failing the action: control
// characters and ill-formed UTF-8 are dropped, the rest truncated.
std::string RequestedBy() {
  constexpr size_t kMaxRequestedByBytes = 256;
  const char* user = std::getenv("USER");
  const std::string host = HostName();
  const std::string raw =
      absl::StrCat(user != nullptr && *user != '\0' ? user : "unknown", "@",
                   host.empty() ? "unknown" : host);
  std::string out;
  ForEachCodePoint(raw, [&](absl::string_view bytes, int32_t cp) {
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return;  // -1: ill-formed.
    out.append(bytes.data(), bytes.size());
  });
  return TruncateUtf8(std::move(out), kMaxRequestedByBytes);
}

// Rows of the grants table at most: a SHARED key or a session may have
// thousands, which would scroll the summary line away; --json has them all.
constexpr int kMaxGrantRows = 100;

// The grants taken, one table row each, the first kMaxGrantRows of them.
std::string GrantsTable(
    const google::protobuf::RepeatedPtrField<v1::Grant>& grants) {
  TextTable table({"KEY", "SESSION", "TOKEN", "MODE", "HELD FOR"});
  for (int i = 0; i < grants.size() && i < kMaxGrantRows; ++i) {
    const v1::Grant& g = grants[i];
    table.AddRow({g.key(), absl::StrCat(g.session_id()),
                  absl::StrCat(g.fencing_token()), ModeName(g.mode()),
                  FormatMs(g.held_for_ms())});
  }
  std::string out = table.Render();
  if (grants.size() > kMaxGrantRows) {
    absl::StrAppend(&out, "... and ", grants.size() - kMaxGrantRows,
                    " more (--json lists them all)\n");
  }
  return out;
}

}  // namespace

int RunForceRelease(const Invocation& inv) {
  auto stub = NewAdminStub(inv);
  grpc::ClientContext ctx;
  SetDeadline(inv, &ctx);
  v1::ForceReleaseRequest req;
  req.set_key(inv.key);
  req.set_reason(inv.reason);
  req.set_skip_lock_delay(inv.skip_lock_delay);
  req.set_session_id(inv.session_id);
  req.set_fencing_token(inv.token);
  req.set_requested_by(RequestedBy());
  v1::ForceReleaseResponse resp;
  grpc::Status status = stub->ForceRelease(&ctx, req, &resp);
  if (!status.ok()) return Fail(inv, "ForceRelease", status);
  if (inv.json) return PrintJson(resp);
  Print(absl::StrCat(
      "force-released key ", TerminalSafe(inv.key), ": took ",
      resp.released_size(), resp.released_size() == 1 ? " grant" : " grants",
      inv.skip_lock_delay ? " (lock-delay skipped)" : "",
      "; the holder is told GRANT_REVOKED, the next waiter gets a higher "
      "token\n",
      GrantsTable(resp.released())));
  return kExitOk;
}

int RunRevoke(const Invocation& inv) {
  auto stub = NewAdminStub(inv);
  grpc::ClientContext ctx;
  SetDeadline(inv, &ctx);
  v1::RevokeSessionRequest req;
  req.set_session_id(inv.session_id);
  req.set_reason(inv.reason);
  req.set_skip_lock_delay(inv.skip_lock_delay);
  req.set_requested_by(RequestedBy());
  v1::RevokeSessionResponse resp;
  grpc::Status status = stub->RevokeSession(&ctx, req, &resp);
  if (!status.ok()) return Fail(inv, "RevokeSession", status);
  if (inv.json) return PrintJson(resp);
  std::string out = absl::StrCat(
      "revoked session ", inv.session_id, ": released ",
      resp.released_size(), resp.released_size() == 1 ? " grant" : " grants",
      ", cancelled ", resp.cancelled_waits(),
      resp.cancelled_waits() == 1 ? " wait" : " waits",
      inv.skip_lock_delay ? " (lock-delays skipped)" : "", "\n");
  if (resp.released_size() > 0) {
    absl::StrAppend(&out, GrantsTable(resp.released()));
  }
  Print(out);
  return kExitOk;
}

int RunRelease(const Invocation& inv) {
  auto stub = NewStub(inv);
  grpc::ClientContext ctx;
  SetDeadline(inv, &ctx);
  v1::ReleaseRequest req;
  req.set_session_id(inv.session_id);
  req.set_key(inv.key);
  req.set_fencing_token(inv.token);
  v1::ReleaseResponse resp;
  grpc::Status status = stub->Release(&ctx, req, &resp);
  if (!status.ok()) return Fail(inv, "Release", status);
  if (inv.json) return PrintJson(resp);
  Print(absl::StrCat("released key ", TerminalSafe(inv.key), " (session ",
                     inv.session_id, ", token ", inv.token, ")\n"));
  return kExitOk;
}

}  // namespace taala::tools
