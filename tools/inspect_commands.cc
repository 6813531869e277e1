// describe, list, sessions, health: one or a few read-only calls on the
// generated stub (and the standard health service), printed as tables or as
// one JSON object.

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
#include "tools/commands.h"
#include "tools/exit_codes.h"
#include "tools/json_writer.h"
#include "tools/text_table.h"

namespace taala::tools {
namespace {

// Server-side page size for list and sessions (the API's maximum).
constexpr uint32_t kPageSize = 1000;

std::unique_ptr<v1::LockService::Stub> NewStub(const Invocation& inv) {
  return v1::LockService::NewStub(
      grpc::CreateChannel(inv.endpoint, grpc::InsecureChannelCredentials()));
}

void SetDeadline(const Invocation& inv, grpc::ClientContext* ctx) {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + inv.timeout));
}

int Fail(const Invocation& inv, absl::string_view what,
         const grpc::Status& status) {
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  std::cerr << "taalactl: " << what << " at " << inv.endpoint << ": "
            << absl::StatusCodeToString(code) << ": " << status.error_message()
            << "\n";
  return ExitCodeFor(code);
}

void Print(const std::string& text) {
  std::cout << text;
  std::cout.flush();
}

std::string ModeName(v1::LockMode mode) {
  const std::string& full = v1::LockMode_Name(mode);
  absl::string_view name = full;
  absl::ConsumePrefix(&name, "LOCK_MODE_");
  return name.empty() ? absl::StrCat(static_cast<int>(mode))
                      : std::string(name);
}

// 64-bit ids and tokens are JSON strings (as in the proto's own JSON
// mapping): a JavaScript number or jq 1.6 would round them above 2^53.
void WriteHolder(JsonWriter& w, const v1::Holder& h) {
  const v1::Grant& g = h.grant();
  w.BeginObject()
      .Key("session_id").String(absl::StrCat(g.session_id()))
      .Key("client_name").String(h.client_name())
      .Key("fencing_token").String(absl::StrCat(g.fencing_token()))
      .Key("mode").String(ModeName(g.mode()))
      .Key("held_for_ms").Int(g.held_for_ms())
      .Key("max_hold_remaining_ms").Int(g.max_hold_remaining_ms())
      .EndObject();
}

std::string MaxHoldLeft(const v1::Grant& g) {
  return g.max_hold_remaining_ms() == 0 ? "-"
                                        : FormatMs(g.max_hold_remaining_ms());
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

  if (inv.json) {
    JsonWriter w;
    w.BeginObject().Key("key").String(resp.key());
    w.Key("held").Bool(resp.holders_size() > 0);
    w.Key("semaphore_size").Uint(resp.semaphore_size());
    w.Key("lock_delay_remaining_ms").Int(resp.lock_delay_remaining_ms());
    w.Key("holders").BeginArray();
    for (const v1::Holder& h : resp.holders()) WriteHolder(w, h);
    w.EndArray().Key("waiters").BeginArray();
    int position = 0;
    for (const v1::Waiter& wt : resp.waiters()) {
      w.BeginObject()
          .Key("position").Int(++position)
          .Key("session_id").String(absl::StrCat(wt.session_id()))
          .Key("client_name").String(wt.client_name())
          .Key("mode").String(ModeName(wt.mode()))
          .Key("waited_for_ms").Int(wt.waited_for_ms())
          .Key("wait_remaining_ms").Int(wt.wait_remaining_ms())
          .EndObject();
    }
    w.EndArray().Key("waiter_count").Uint(resp.waiter_count()).EndObject();
    Print(w.str() + "\n");
    return kExitOk;
  }

  std::string out = absl::StrCat("KEY    ", TerminalSafe(resp.key()), "\n");
  if (resp.holders_size() == 0 && resp.waiter_count() == 0 &&
      resp.lock_delay_remaining_ms() == 0) {
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
  if (resp.lock_delay_remaining_ms() > 0) {
    absl::StrAppend(&out, ", lock-delay ",
                    FormatMs(resp.lock_delay_remaining_ms()), " left");
  }
  absl::StrAppend(&out, ", ", resp.waiter_count(),
                  resp.waiter_count() == 1 ? " waiter" : " waiters", "\n");
  TextTable holders(
      {"SESSION", "CLIENT", "TOKEN", "MODE", "HELD FOR", "MAX HOLD LEFT"});
  for (const v1::Holder& h : resp.holders()) {
    const v1::Grant& g = h.grant();
    holders.AddRow({absl::StrCat(g.session_id()), h.client_name(),
                    absl::StrCat(g.fencing_token()), ModeName(g.mode()),
                    FormatMs(g.held_for_ms()), MaxHoldLeft(g)});
  }
  if (resp.holders_size() > 0) {
    absl::StrAppend(&out, "\nHOLDERS\n", holders.Render());
  }
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
    v1::ListLocksResponse resp;
    grpc::Status status = stub->ListLocks(&ctx, req, &resp);
    if (!status.ok()) return Fail(inv, "ListLocks", status);
    for (v1::LockSummary& l : *resp.mutable_locks()) {
      locks.push_back(std::move(l));
    }
    page_token = resp.next_page_token();
    if (inv.limit > 0 && locks.size() >= inv.limit) {
      truncated = !page_token.empty();
      break;
    }
  } while (!page_token.empty());

  if (inv.json) {
    JsonWriter w;
    w.BeginObject().Key("prefix").String(inv.prefix).Key("locks").BeginArray();
    for (const v1::LockSummary& l : locks) {
      w.BeginObject().Key("key").String(l.key()).Key("holders").BeginArray();
      for (const v1::Holder& h : l.holders()) WriteHolder(w, h);
      w.EndArray().Key("waiter_count").Uint(l.waiter_count()).EndObject();
    }
    w.EndArray().Key("truncated").Bool(truncated).EndObject();
    Print(w.str() + "\n");
    return kExitOk;
  }

  if (locks.empty()) {
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
    JsonWriter w;
    w.BeginObject().Key("sessions").BeginArray();
    for (const v1::SessionSummary& s : sessions) {
      w.BeginObject()
          .Key("session_id").String(absl::StrCat(s.session_id()))
          .Key("client_name").String(s.client_name())
          .Key("labels").BeginObject();
      // Sorted, so the output is stable.
      const std::map<std::string, std::string> labels(s.labels().begin(),
                                                      s.labels().end());
      for (const auto& [name, value] : labels) w.Key(name).String(value);
      w.EndObject()
          .Key("ttl_ms").Int(s.ttl_ms())
          .Key("expires_in_ms").Int(s.expires_in_ms())
          .Key("held_keys").Uint(s.held_keys())
          .Key("waiting_keys").Uint(s.waiting_keys())
          .EndObject();
    }
    w.EndArray().EndObject();
    Print(w.str() + "\n");
    return kExitOk;
  }

  if (sessions.empty()) {
    Print("no sessions\n");
    return kExitOk;
  }
  TextTable table({"SESSION", "CLIENT", "TTL", "EXPIRES IN", "HELD", "WAITING",
                   "LABELS"});
  for (const v1::SessionSummary& s : sessions) {
    const std::map<std::string, std::string> labels(s.labels().begin(),
                                                    s.labels().end());
    table.AddRow({absl::StrCat(s.session_id()), s.client_name(),
                  FormatMs(s.ttl_ms()), FormatMs(s.expires_in_ms()),
                  absl::StrCat(s.held_keys()), absl::StrCat(s.waiting_keys()),
                  absl::StrJoin(labels, ",", absl::PairFormatter("="))});
  }
  Print(table.Render());
  return kExitOk;
}

int RunDeadlocks(const Invocation& inv) {
  auto stub = NewStub(inv);
  grpc::ClientContext ctx;
  SetDeadline(inv, &ctx);
  v1::GetWaitForGraphRequest req;
  v1::GetWaitForGraphResponse resp;
  grpc::Status status = stub->GetWaitForGraph(&ctx, req, &resp);
  if (!status.ok()) return Fail(inv, "GetWaitForGraph", status);

  if (inv.json) {
    JsonWriter w;
    w.BeginObject()
        .Key("deadlocks_refused").String(absl::StrCat(resp.deadlocks_refused()))
        .Key("truncated").Bool(resp.truncated())
        .Key("edges").BeginArray();
    for (const v1::WaitForEdge& e : resp.edges()) {
      w.BeginObject()
          .Key("waiter_session_id").String(absl::StrCat(e.waiter_session_id()))
          .Key("waiter_client_name").String(e.waiter_client_name())
          .Key("waiter_mode").String(ModeName(e.waiter_mode()))
          .Key("blocker_session_id").String(absl::StrCat(e.blocker_session_id()))
          .Key("blocker_client_name").String(e.blocker_client_name())
          .Key("blocker_mode").String(ModeName(e.blocker_mode()))
          .Key("key").String(e.key())
          .Key("blocker_is").String(e.queued_ahead() ? "queued ahead" : "holder")
          .EndObject();
    }
    w.EndArray().EndObject();
    Print(w.str() + "\n");
    return kExitOk;
  }

  Print(absl::StrCat("deadlocks refused since start: ",
                     resp.deadlocks_refused(), "\n"));
  if (resp.edges().empty()) {
    Print("nobody waits\n");
    return kExitOk;
  }
  TextTable table({"WAITER", "CLIENT", "MODE", "WAITS FOR", "KEY", "BLOCKER",
                   "CLIENT", "MODE"});
  for (const v1::WaitForEdge& e : resp.edges()) {
    table.AddRow({absl::StrCat(e.waiter_session_id()), e.waiter_client_name(),
                  ModeName(e.waiter_mode()),
                  e.queued_ahead() ? "queued ahead" : "holder", e.key(),
                  absl::StrCat(e.blocker_session_id()),
                  e.blocker_client_name(), ModeName(e.blocker_mode())});
  }
  Print(table.Render());
  if (resp.truncated()) Print("(truncated)\n");
  return kExitOk;
}

int RunHealth(const Invocation& inv) {
  auto channel =
      grpc::CreateChannel(inv.endpoint, grpc::InsecureChannelCredentials());
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
    std::cerr << "taalactl: health check at " << inv.endpoint
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
    JsonWriter w;
    w.BeginObject()
        .Key("endpoint").String(inv.endpoint)
        .Key("status").String(name);
    if (have_server) {
      w.Key("durability").String(st.durability())
          .Key("grants_refused_for_ms").Int(st.grants_refused_for_ms())
          .Key("previous_stop_clean").Bool(st.previous_stop_clean())
          .Key("sessions_restored").Uint(st.sessions_restored())
          .Key("grants_restored").Uint(st.grants_restored())
          .Key("records_replayed").Uint(st.records_replayed())
          .Key("recovery_ms").Int(st.recovery_ms())
          .Key("last_lsn").Uint(st.last_lsn())
          .Key("sessions").Uint(st.sessions())
          .Key("keys").Uint(st.keys())
          .Key("wal_records").Uint(st.wal_records())
          .Key("wal_fsyncs").Uint(st.wal_fsyncs())
          .Key("wal_bytes").Uint(st.wal_bytes());
    }
    w.EndObject();
    Print(w.str() + "\n");
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
