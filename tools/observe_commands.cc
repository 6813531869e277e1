// deadlocks, leaks, contention, stats: the wait-for graph and the daemon's
// statistics (GetWaitForGraph with GetRecentDeadlocks, GetLeakSuspects,
// GetContention, GetLockStats), printed as tables or as the response in
// proto3 JSON.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/exit_codes.h"
#include "taala/tools/taalactl_output.pb.h"
#include "tools/text_table.h"

namespace taala::tools {
namespace {

std::string Quantiles(const v1::DurationQuantiles& q, const char* unit) {
  if (q.count() == 0) return absl::StrCat("no ", unit, " yet");
  return absl::StrCat("p50 ", FormatMsDouble(q.p50_ms()), "  p95 ",
                      FormatMsDouble(q.p95_ms()), "  p99 ",
                      FormatMsDouble(q.p99_ms()), "  max ",
                      FormatMsDouble(q.max_ms()), "  (", q.count(), " ", unit,
                      ")");
}

std::string SuggestionText(const v1::Suggestion& s) {
  if (!s.available()) {
    return absl::StrCat("none: ", s.reason().empty() ? "not enough samples"
                                                     : TerminalSafe(s.reason()));
  }
  return absl::StrCat(FormatMs(s.value_ms()), "  (", TerminalSafe(s.source()),
                      "; ", s.samples(), " samples)");
}

// After a suggestion: how it compares with the policy's value, if the
// policy sets one.
std::string AgainstPolicy(const v1::Suggestion& s, bool set, int64_t ms) {
  if (!set) return "";
  const std::string value =
      ms < 0 ? "forever" : ms == 0 ? "none" : FormatMs(ms);
  if (s.available() && s.value_ms() == ms) return "; the policy's too";
  return absl::StrCat("; the policy's: ", value);
}

}  // namespace

int RunDeadlocks(const Invocation& inv) {
  auto stub = NewStub(inv);
  DeadlocksOutput output;
  {
    grpc::ClientContext ctx;
    SetDeadline(inv, &ctx);
    grpc::Status status = stub->GetWaitForGraph(
        &ctx, v1::GetWaitForGraphRequest(), output.mutable_wait_for_graph());
    if (!status.ok()) return Fail(inv, "GetWaitForGraph", status);
  }
  // The recent refusals: a taalad without them (UNIMPLEMENTED) still shows
  // its graph.
  {
    grpc::ClientContext ctx;
    SetDeadline(inv, &ctx);
    v1::GetRecentDeadlocksRequest req;
    req.set_limit(static_cast<uint32_t>(std::min<size_t>(inv.limit, 100)));
    v1::GetRecentDeadlocksResponse recent;
    grpc::Status status = stub->GetRecentDeadlocks(&ctx, req, &recent);
    if (status.ok()) {
      *output.mutable_recent() = std::move(recent);
    } else if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      output.set_recent_error(absl::StrCat(
          "this taalad does not keep recent deadlocks: ",
          status.error_message()));
    } else {
      return Fail(inv, "GetRecentDeadlocks", status);
    }
  }
  if (inv.json) return PrintJson(output);

  const v1::GetWaitForGraphResponse& graph = output.wait_for_graph();
  std::string out = absl::StrCat("deadlocks refused since start: ",
                                 graph.deadlocks_refused(), "\n");
  if (graph.edges().empty()) {
    absl::StrAppend(&out, "nobody waits\n");
  } else {
    TextTable table({"WAITER", "CLIENT", "MODE", "WAITS FOR", "KEY",
                     "BLOCKER", "CLIENT", "MODE"});
    for (const v1::WaitForEdge& e : graph.edges()) {
      table.AddRow({absl::StrCat(e.waiter_session_id()),
                    e.waiter_client_name(), ModeName(e.waiter_mode()),
                    e.queued_ahead() ? "queued ahead" : "holder", e.key(),
                    absl::StrCat(e.blocker_session_id()),
                    e.blocker_client_name(), ModeName(e.blocker_mode())});
    }
    absl::StrAppend(&out, table.Render());
    if (graph.truncated()) absl::StrAppend(&out, "(truncated)\n");
  }
  if (!output.has_recent()) {
    absl::StrAppend(&out, "\nrecent refusals: ",
                    TerminalSafe(output.recent_error()), "\n");
  } else if (output.recent().deadlocks().empty()) {
    absl::StrAppend(&out, "\nno recent deadlock refusals\n");
  } else {
    absl::StrAppend(&out, "\nRECENT REFUSALS (newest first)\n");
    for (const v1::DeadlockRefusal& d : output.recent().deadlocks()) {
      absl::StrAppend(
          &out,
          absl::FormatTime("%Y-%m-%d %H:%M:%E3S UTC",
                           absl::FromUnixMillis(d.at_unix_ms()),
                           absl::UTCTimeZone()),
          "  session ", d.session_id(), " (", TerminalSafe(d.client_name()),
          ") refused on key \"", TerminalSafe(d.key()), "\"; cycle:\n");
      for (const v1::WaitForEdge& e : d.cycle()) {
        absl::StrAppend(
            &out, "  ", e.waiter_session_id(), " (",
            TerminalSafe(e.waiter_client_name()), ") ",
            ModeName(e.waiter_mode()), " waits for ", e.blocker_session_id(),
            " (", TerminalSafe(e.blocker_client_name()), ") ",
            e.queued_ahead() ? "queued ahead on" : "holding", " \"",
            TerminalSafe(e.key()), "\" ", ModeName(e.blocker_mode()), "\n");
      }
    }
  }
  Print(out);
  return kExitOk;
}

int RunLeaks(const Invocation& inv) {
  auto stub = NewStub(inv);
  grpc::ClientContext ctx;
  SetDeadline(inv, &ctx);
  v1::GetLeakSuspectsRequest req;
  req.set_held_longer_than_ms(absl::ToInt64Milliseconds(inv.held_longer_than));
  req.set_p99_factor(inv.p99_factor);
  req.set_limit(static_cast<uint32_t>(std::min<size_t>(inv.limit, 1000)));
  v1::GetLeakSuspectsResponse resp;
  grpc::Status status = stub->GetLeakSuspects(&ctx, req, &resp);
  if (!status.ok()) return Fail(inv, "GetLeakSuspects", status);
  if (inv.json) return PrintJson(resp);

  std::string out = absl::StrFormat(
      "leak suspects: held longer than %s, or %g x their key's p99 hold\n",
      FormatMs(resp.held_longer_than_ms()), resp.p99_factor());
  if (resp.suspects().empty()) {
    absl::StrAppend(&out, "no leak suspects\n");
    Print(out);
    return kExitOk;
  }
  TextTable table({"KEY", "SESSION", "CLIENT", "LABELS", "TOKEN", "HELD FOR",
                   "REASON"});
  for (const v1::LeakSuspect& s : resp.suspects()) {
    const v1::Grant& g = s.grant();
    table.AddRow({g.key(), absl::StrCat(g.session_id()), s.client_name(),
                  LabelsText(s.labels()), absl::StrCat(g.fencing_token()),
                  FormatMs(g.held_for_ms()), s.reason()});
  }
  absl::StrAppend(&out, table.Render());
  if (resp.truncated()) absl::StrAppend(&out, "... more suspects follow\n");
  Print(out);
  return kExitOk;
}

int RunContention(const Invocation& inv) {
  auto stub = NewStub(inv);
  grpc::ClientContext ctx;
  SetDeadline(inv, &ctx);
  v1::GetContentionRequest req;
  req.set_limit(static_cast<uint32_t>(std::min<size_t>(inv.limit, 100)));
  v1::GetContentionResponse resp;
  grpc::Status status = stub->GetContention(&ctx, req, &resp);
  if (!status.ok()) return Fail(inv, "GetContention", status);
  if (inv.json) return PrintJson(resp);

  std::string out = "BY WAITERS NOW\n";
  if (resp.by_waiters().empty()) {
    absl::StrAppend(&out, "nobody waits\n");
  } else {
    TextTable table({"KEY", "WAITERS", "HOLDERS", "LONGEST WAIT"});
    for (const v1::ContendedKey& k : resp.by_waiters()) {
      table.AddRow({k.key(), absl::StrCat(k.waiters()),
                    absl::StrCat(k.holders()), FormatMs(k.longest_wait_ms())});
    }
    absl::StrAppend(&out, table.Render());
  }
  absl::StrAppend(&out, "\nBY TIME WAITED (last ",
                  FormatMs(resp.window_ms()), ")\n");
  if (resp.by_wait_time().empty()) {
    absl::StrAppend(&out, "no waits in the window\n");
  } else {
    TextTable table({"KEY", "WAITED", "WAITS", "WAITERS NOW"});
    for (const v1::ContendedKey& k : resp.by_wait_time()) {
      table.AddRow({k.key(), FormatMsDouble(k.wait_ms_in_window()),
                    absl::StrCat(k.waits_in_window()),
                    absl::StrCat(k.waiters())});
    }
    absl::StrAppend(&out, table.Render());
  }
  Print(out);
  return kExitOk;
}

int RunStats(const Invocation& inv) {
  auto stub = NewStub(inv);
  grpc::ClientContext ctx;
  SetDeadline(inv, &ctx);
  v1::GetLockStatsRequest req;
  req.set_key(inv.key);
  req.set_prefix(inv.prefix);
  v1::GetLockStatsResponse resp;
  grpc::Status status = stub->GetLockStats(&ctx, req, &resp);
  if (!status.ok()) return Fail(inv, "GetLockStats", status);
  if (inv.json) return PrintJson(resp);

  const v1::KeyStats& st = resp.stats();
  std::string scope = st.scope();
  if (scope.empty()) {
    scope = !inv.key.empty() ? inv.key : !inv.prefix.empty() ? inv.prefix
                                                             : "(every key)";
  }
  std::string out = absl::StrCat("SCOPE        ", TerminalSafe(scope), "  (",
                                 TerminalSafe(st.source()));
  if (st.source() == "prefix") {
    absl::StrAppend(&out, ", ", st.keys(), st.keys() == 1 ? " key" : " keys");
  }
  if (st.tracked_since_ms() > 0) {
    absl::StrAppend(&out, ", since ",
                    absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                                     absl::FromUnixMillis(st.tracked_since_ms()),
                                     absl::UTCTimeZone()));
  }
  if (st.error_bound() > 0) {
    absl::StrAppend(&out, ", may have missed ", st.error_bound(), " events");
  }
  absl::StrAppend(&out, ")\n");
  if (st.source() == "untracked") {
    absl::StrAppend(&out,
                    "not among the tracked keys: no figures (the daemon "
                    "keeps figures for its busiest keys and first segments)\n");
  }
  const v1::AcquireOutcomes& a = st.acquires();
  absl::StrAppend(
      &out, "ACQUIRES     ", a.acquired(), " acquired (", a.acquired_after_wait(),
      " after a wait), ", a.timed_out(), " timed out, ", a.cancelled(),
      " cancelled, ", a.deadlock(), " deadlock, ", a.failed(), " failed\n");
  absl::StrAppend(&out, "WAIT         ", Quantiles(st.wait(), "waits"), "\n");
  absl::StrAppend(&out, "HOLD         ", Quantiles(st.hold(), "holds"), "\n");
  absl::StrAppend(&out, "ENDED BY     ", st.revocations(), " revocations, ",
                  st.expiries(), " expiries; ", st.deadlock_refusals(),
                  " deadlock refusals\n");
  // The policy in force (taalad --policy_file) beside the suggestions.
  const bool has_policy = resp.has_policy();
  const v1::LockPolicy& policy = resp.policy();
  absl::StrAppend(&out, "POLICY       ",
                  has_policy ? PolicyText(policy) : "none", "\n");
  absl::StrAppend(&out, "SUGGESTED MAX HOLD      ",
                  SuggestionText(st.suggested_max_hold()),
                  AgainstPolicy(st.suggested_max_hold(), has_policy &&
                                policy.has_max_hold_ms(), policy.max_hold_ms()),
                  "\n");
  absl::StrAppend(&out, "SUGGESTED WAIT TIMEOUT  ",
                  SuggestionText(st.suggested_wait_timeout()),
                  AgainstPolicy(st.suggested_wait_timeout(),
                                has_policy && policy.has_wait_timeout_ms(),
                                policy.wait_timeout_ms()),
                  "\n");
  Print(out);
  return kExitOk;
}

}  // namespace taala::tools
