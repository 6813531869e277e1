// describe, list, sessions, health: one or a few read-only calls
// on the generated stub (and the standard health service), printed as tables
// or as one proto3 JSON object (tools/proto_json.h).

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/unknown_field_set.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/exit_codes.h"
#include "taala/tools/taalactl_output.pb.h"
#include "tools/text_table.h"

namespace taala::tools {
namespace {

std::string MaxHoldLeft(const v1::Grant& g) {
  return g.max_hold_remaining_ms() == 0 ? "-"
                                        : FormatMs(g.max_hold_remaining_ms());
}

// The holders of other keys of the tree that keep the described key from
// being granted, under `title`.
void AppendBlockers(
    const char* title,
    const google::protobuf::RepeatedPtrField<v1::TreeBlocker>& blockers,
    std::string* out) {
  if (blockers.empty()) return;
  TextTable table({"KEY", "SESSION", "CLIENT", "LABELS", "TOKEN", "MODE",
                   "HELD FOR"});
  for (const v1::TreeBlocker& b : blockers) {
    const v1::Holder& h = b.holder();
    const v1::Grant& g = h.grant();
    table.AddRow({b.key(), absl::StrCat(g.session_id()), h.client_name(),
                  LabelsText(h.labels()), absl::StrCat(g.fencing_token()),
                  ModeName(g.mode()), FormatMs(g.held_for_ms())});
  }
  absl::StrAppend(out, "\n", title, "\n", table.Render());
}

// `l` passes list's --held-longer-than and --contended.
bool Matches(const Invocation& inv, const v1::LockSummary& l) {
  if (inv.contended && l.waiter_count() == 0) return false;
  if (inv.held_longer_than > absl::ZeroDuration()) {
    const int64_t threshold = absl::ToInt64Milliseconds(inv.held_longer_than);
    for (const v1::Holder& h : l.holders()) {
      if (h.grant().held_for_ms() > threshold) return true;
    }
    return false;
  }
  return true;
}

}  // namespace

int RunDescribe(const Invocation& inv) {
  auto stub = NewStub(inv);
  grpc::ClientContext ctx;
  SetDeadline(inv, &ctx);
  v1::DescribeLockRequest req;
  req.set_key(inv.key);
  v1::DescribeLockResponse resp;
  grpc::Status status = stub->DescribeLock(&ctx, req, &resp);
  if (!status.ok()) return Fail(inv, "DescribeLock", status);

  if (inv.json) return PrintJson(resp);

  std::string out = absl::StrCat("KEY    ", TerminalSafe(resp.key()), "\n");
  const bool blocked = !resp.blocked_from_above().empty() ||
                       !resp.blocked_from_below().empty();
  if (resp.holders_size() == 0 && resp.waiter_count() == 0 &&
      resp.lock_delay_remaining_ms() == 0 && !blocked) {
    absl::StrAppend(&out, "STATE  free\n");
    Print(out);
    return kExitOk;
  }
  // "held, 1 waiter"; "semaphore of size 3, 2 held, 0 waiters";
  // "not held, lock-delay 450ms left, 1 waiter".
  absl::StrAppend(&out, "STATE  ");
  if (resp.semaphore_size() > 0) {
    absl::StrAppend(&out, "semaphore of size ", resp.semaphore_size(), ", ",
                    resp.holders_size(), " held");
  } else {
    absl::StrAppend(&out, resp.holders_size() > 0 ? "held" : "not held");
  }
  if (!resp.blocked_from_above().empty()) {
    absl::StrAppend(&out, ", blocked from above");
  }
  if (!resp.blocked_from_below().empty()) {
    absl::StrAppend(&out, ", blocked from below");
  }
  if (resp.lock_delay_remaining_ms() > 0) {
    absl::StrAppend(&out, ", lock-delay ",
                    FormatMs(resp.lock_delay_remaining_ms()), " left");
  }
  absl::StrAppend(&out, ", ", resp.waiter_count(),
                  resp.waiter_count() == 1 ? " waiter" : " waiters", "\n");
  TextTable holders({"SESSION", "CLIENT", "TOKEN", "MODE", "HELD FOR",
                      "MAX HOLD LEFT", "LABELS"});
  for (const v1::Holder& h : resp.holders()) {
    const v1::Grant& g = h.grant();
    holders.AddRow({absl::StrCat(g.session_id()), h.client_name(),
                    absl::StrCat(g.fencing_token()), ModeName(g.mode()),
                    FormatMs(g.held_for_ms()), MaxHoldLeft(g),
                    LabelsText(h.labels())});
  }
  if (resp.holders_size() > 0) {
    absl::StrAppend(&out, "\nHOLDERS\n", holders.Render());
  }
  AppendBlockers("BLOCKED FROM ABOVE (holders of ancestors, nearest first)",
                 resp.blocked_from_above(), &out);
  AppendBlockers("BLOCKED FROM BELOW (holders of keys under it)",
                 resp.blocked_from_below(), &out);
  if (resp.waiter_count() > 0) {
    TextTable waiters(
        {"#", "SESSION", "CLIENT", "MODE", "WAITED FOR", "WAIT LEFT"});
    int position = 0;
    for (const v1::Waiter& wt : resp.waiters()) {
      waiters.AddRow({absl::StrCat(++position), absl::StrCat(wt.session_id()),
                      wt.client_name(), ModeName(wt.mode()),
                      FormatMs(wt.waited_for_ms()),
                      wt.wait_remaining_ms() < 0
                          ? "until cancelled"
                          : FormatMs(wt.wait_remaining_ms())});
    }
    absl::StrAppend(&out, "\nWAITERS (queue order)\n", waiters.Render());
    if (resp.waiter_count() > static_cast<uint32_t>(resp.waiters_size())) {
      absl::StrAppend(&out, "... and ",
                      resp.waiter_count() - resp.waiters_size(), " more\n");
    }
  }
  Print(out);
  return kExitOk;
}

int RunList(const Invocation& inv) {
  auto stub = NewStub(inv);
  std::vector<v1::LockSummary> locks;
  std::string page_token;
  bool truncated = false;
  do {
    grpc::ClientContext ctx;
    SetDeadline(inv, &ctx);
    v1::ListLocksRequest req;
    req.set_prefix(inv.prefix);
    uint32_t page_size = kPageSize;
    if (inv.limit > 0) {
      page_size = static_cast<uint32_t>(
          std::min<size_t>(kPageSize, inv.limit - locks.size()));
    }
    req.set_page_size(page_size);
    req.set_page_token(page_token);
    req.set_held_longer_than_ms(absl::ToInt64Milliseconds(inv.held_longer_than));
    req.set_contended_only(inv.contended);
    v1::ListLocksResponse resp;
    grpc::Status status = stub->ListLocks(&ctx, req, &resp);
    if (!status.ok()) return Fail(inv, "ListLocks", status);
    for (v1::LockSummary& l : *resp.mutable_locks()) {
      // The filters again, for a taalad that does not know them (it lists
      // every key); a no-op otherwise.
      if (!Matches(inv, l)) continue;
      locks.push_back(std::move(l));
    }
    page_token = resp.next_page_token();
    if (inv.limit > 0 && locks.size() >= inv.limit) {
      truncated = !page_token.empty();
      break;
    }
  } while (!page_token.empty());

  if (inv.json) {
    v1::ListLocksResponse all;
    for (v1::LockSummary& l : locks) *all.add_locks() = std::move(l);
    // Where the next page would start, when --limit cut the listing short.
    if (truncated) all.set_next_page_token(page_token);
    return PrintJson(all);
  }

  if (locks.empty()) {
    if (inv.held_longer_than > absl::ZeroDuration() || inv.contended) {
      Print("no locks match\n");
      return kExitOk;
    }
    Print(inv.prefix.empty()
              ? "no locks held\n"
              : absl::StrCat("no locks held under \"",
                             TerminalSafe(inv.prefix), "\"\n"));
    return kExitOk;
  }
  TextTable table({"KEY", "SESSION", "CLIENT", "TOKEN", "MODE", "HELD FOR",
                   "WAITERS"});
  for (const v1::LockSummary& l : locks) {
    if (l.holders_size() == 0) {
      table.AddRow({l.key(), "-", "-", "-", "-", "-",
                    absl::StrCat(l.waiter_count())});
    }
    for (const v1::Holder& h : l.holders()) {
      const v1::Grant& g = h.grant();
      table.AddRow({l.key(), absl::StrCat(g.session_id()), h.client_name(),
                    absl::StrCat(g.fencing_token()), ModeName(g.mode()),
                    FormatMs(g.held_for_ms()), absl::StrCat(l.waiter_count())});
    }
  }
  std::string out = table.Render();
  if (truncated) {
    absl::StrAppend(&out, "... more keys follow (--limit ", inv.limit, ")\n");
  }
  Print(out);
  return kExitOk;
}

int RunSessions(const Invocation& inv) {
  auto stub = NewStub(inv);
  std::vector<v1::SessionSummary> sessions;
  std::string page_token;
  do {
    grpc::ClientContext ctx;
    SetDeadline(inv, &ctx);
    v1::ListSessionsRequest req;
    req.set_page_size(kPageSize);
    req.set_page_token(page_token);
    v1::ListSessionsResponse resp;
    grpc::Status status = stub->ListSessions(&ctx, req, &resp);
    if (!status.ok()) return Fail(inv, "ListSessions", status);
    for (v1::SessionSummary& s : *resp.mutable_sessions()) {
      sessions.push_back(std::move(s));
    }
    page_token = resp.next_page_token();
  } while (!page_token.empty());

  if (inv.json) {
    v1::ListSessionsResponse all;
    for (v1::SessionSummary& s : sessions) *all.add_sessions() = std::move(s);
    return PrintJson(all);
  }

  if (sessions.empty()) {
    Print("no sessions\n");
    return kExitOk;
  }
  TextTable table({"SESSION", "CLIENT", "TTL", "EXPIRES IN", "HELD", "WAITING",
                   "LABELS"});
  for (const v1::SessionSummary& s : sessions) {
    table.AddRow({absl::StrCat(s.session_id()), s.client_name(),
                  FormatMs(s.ttl_ms()), FormatMs(s.expires_in_ms()),
                  absl::StrCat(s.held_keys()), absl::StrCat(s.waiting_keys()),
                  s.labels().empty() ? "" : LabelsText(s.labels())});
  }
  Print(table.Render());
  return kExitOk;
}

int RunHealth(const Invocation& inv) {
  auto channel = NewChannel(inv);
  grpc::GenericStub generic(channel);
  grpc::ClientContext ctx;
  SetDeadline(inv, &ctx);
  // An empty HealthCheckRequest: service "" is the whole server.
  grpc::Slice empty_message("");
  grpc::ByteBuffer request(&empty_message, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                    &request, &response, [&](grpc::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
  done.WaitForNotification();
  if (!status.ok()) return Fail(inv, "health check", status);

  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (response.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices) bytes.append(s.begin(), s.end());
  }
  // HealthCheckResponse { ServingStatus status = 1; }, read without the
  // health proto: UNKNOWN = 0, SERVING = 1, NOT_SERVING = 2,
  // SERVICE_UNKNOWN = 3.
  google::protobuf::UnknownFieldSet fields;
  uint64_t value = 0;
  if (!fields.ParseFromString(bytes)) {
    std::cerr << "taalactl: health check at " << TerminalSafe(inv.endpoint)
              << ": the answer is not a HealthCheckResponse\n";
    return kExitError;
  }
  for (int i = 0; i < fields.field_count(); ++i) {
    const google::protobuf::UnknownField& f = fields.field(i);
    if (f.number() == 1 && f.type() == google::protobuf::UnknownField::TYPE_VARINT) {
      value = f.varint();
    }
  }
  static const char* const kNames[] = {"UNKNOWN", "SERVING", "NOT_SERVING",
                                       "SERVICE_UNKNOWN"};
  const std::string name =
      value < 4 ? kNames[value] : absl::StrCat("STATUS_", value);
  // The daemon's durability and recovery (an older taalad has no such rpc:
  // only the serving status is shown then).
  v1::GetServerStatusResponse server;
  bool have_server = false;
  {
    auto stub = NewStub(inv);
    grpc::ClientContext sctx;
    SetDeadline(inv, &sctx);
    have_server =
        stub->GetServerStatus(&sctx, v1::GetServerStatusRequest(), &server)
            .ok();
  }
  const v1::ServerStatus& st = server.status();
  if (inv.json) {
    HealthOutput output;
    output.set_endpoint(inv.endpoint);
    output.set_status(name);
    if (have_server) *output.mutable_server() = st;
    if (const int code = PrintJson(output); code != kExitOk) return code;
  } else {
    Print(absl::StrCat(TerminalSafe(inv.endpoint), "  ", name, "\n"));
    if (have_server) {
      Print(absl::StrCat(
          "  durability ", TerminalSafe(st.durability()), "; ", st.sessions(),
          " sessions, ", st.keys(), " keys; last LSN ", st.last_lsn(), "\n",
          "  recovered ", st.sessions_restored(), " sessions and ",
          st.grants_restored(), " grants in ", st.recovery_ms(), " ms (",
          st.records_replayed(), " log records after the snapshot at LSN ",
          st.snapshot_lsn(), "); previous stop ",
          st.previous_stop_clean() ? "clean" : "UNCLEAN", "\n"));
      if (st.grants_refused_for_ms() > 0) {
        Print(absl::StrCat("  GRANTS REFUSED for another ",
                           st.grants_refused_for_ms(),
                           " ms (unclean stop without fsync durability)\n"));
      }
    }
  }
  return value == 1 ? kExitOk : kExitUnavailable;
}

}  // namespace taala::tools
