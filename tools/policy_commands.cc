// policies: the lock policies in force in taalad (GetPolicies), and the
// policy text `stats` shows beside its suggestions.

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/exit_codes.h"
#include "tools/text_table.h"

namespace taala::tools {
namespace {

std::string WaitText(int64_t ms) {
  return ms < 0 ? "forever" : FormatMs(ms);
}

std::string UtcText(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                          absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

// The prefix for humans: "" is the catch-all.
std::string PrefixText(const std::string& prefix) {
  return prefix.empty() ? "\"\" (every key)" : TerminalSafe(prefix);
}

}  // namespace

std::string PolicyText(const v1::LockPolicy& p) {
  std::string out;
  auto add = [&out](const std::string& item) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", item);
  };
  if (p.has_max_hold_ms()) {
    add(absl::StrCat("max hold ",
                     p.max_hold_ms() == 0 ? "none" : FormatMs(p.max_hold_ms())));
  }
  if (p.has_lock_delay_ms()) {
    add(absl::StrCat("lock-delay ", FormatMs(p.lock_delay_ms())));
  }
  if (p.has_wait_timeout_ms()) {
    add(absl::StrCat("wait timeout ", WaitText(p.wait_timeout_ms())));
  }
  if (p.has_semaphore_size()) {
    add(absl::StrCat("semaphore of ", p.semaphore_size()));
  }
  return absl::StrCat(PrefixText(p.prefix()), " (line ", p.line(), "): ", out);
}

int RunPolicies(const Invocation& inv) {
  auto stub = NewStub(inv);
  grpc::ClientContext ctx;
  SetDeadline(inv, &ctx);
  v1::GetPoliciesResponse resp;
  grpc::Status status =
      stub->GetPolicies(&ctx, v1::GetPoliciesRequest(), &resp);
  if (!status.ok()) return Fail(inv, "GetPolicies", status);
  if (inv.json) return PrintJson(resp);

  std::string out;
  if (resp.file().empty()) {
    out = "FILE         none (taalad runs without --policy_file)\n";
  } else {
    absl::StrAppend(&out, "FILE         ", TerminalSafe(resp.file()),
                    "  (loaded ", UtcText(resp.loaded_at_unix_ms()),
                    ", generation ", resp.generation(), ")\n");
  }
  if (!resp.last_error().empty()) {
    absl::StrAppend(&out, "REFUSED      ", UtcText(resp.last_error_at_unix_ms()),
                    ": ", TerminalSafe(resp.last_error()),
                    " (the policies below stay in force)\n");
  }
  if (resp.policies().empty()) {
    absl::StrAppend(&out, "no policies\n");
  } else {
    TextTable table({"PREFIX", "MAX HOLD", "LOCK-DELAY", "WAIT TIMEOUT",
                     "SEMAPHORE", "LINE"});
    for (const v1::LockPolicy& p : resp.policies()) {
      table.AddRow(
          {p.prefix().empty() ? "\"\" (every key)" : p.prefix(),
           !p.has_max_hold_ms()     ? "-"
           : p.max_hold_ms() == 0   ? "none"
                                    : FormatMs(p.max_hold_ms()),
           p.has_lock_delay_ms() ? FormatMs(p.lock_delay_ms()) : "-",
           p.has_wait_timeout_ms() ? WaitText(p.wait_timeout_ms()) : "-",
           p.has_semaphore_size() ? absl::StrCat(p.semaphore_size()) : "-",
           absl::StrCat(p.line())});
    }
    absl::StrAppend(&out, table.Render());
  }
  Print(out);
  return kExitOk;
}

}  // namespace taala::tools
