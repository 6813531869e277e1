// taalactl watch: LockService.Watch, printed as it comes. First the
// snapshot (a table, or its messages in JSON), then one line per event.
// Resumable: on UNAVAILABLE or CANCELLED (the daemon restarting: a call
// that reached it while it drained is cancelled) or RESOURCE_EXHAUSTED
// (too slow) it reconnects with backoff, resuming after the last LSN it
// printed; on OUT_OF_RANGE (compacted) it says so on stderr and starts over
// with a snapshot, except for the user's own --after ahead of the log (an
// error). A daemon it cannot connect to at the start is exit 69. SIGINT and
// SIGTERM end it cleanly (exit 0), as does --count N after N events.

#include <grpcpp/grpcpp.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/exit_codes.h"
#include "tools/text_table.h"

namespace taala::tools {
namespace {

std::string At(int64_t unix_ms) {
  if (unix_ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ",
                          absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

// Raw: the caller escapes it once (TerminalSafe, or TextTable's cells).
std::string Who(uint64_t session, const std::string& client) {
  if (session == 0) return "-";
  return client.empty() ? absl::StrCat(session)
                        : absl::StrCat(session, "(", client, ")");
}

std::string EventLine(const v1::WatchEvent& e) {
  std::string name = v1::WatchEvent::Type_Name(e.type());
  std::string lsn = e.lsn() != 0 ? absl::StrCat(e.lsn())
                                 : absl::StrCat("~", e.after_lsn());
  std::string detail;
  switch (e.type()) {
    case v1::WatchEvent::GRANTED:
      detail = absl::StrCat(ModeName(e.mode()),
                            e.semaphore_size() > 0
                                ? absl::StrCat(" semaphore ",
                                               e.semaphore_size())
                                : "",
                            e.upgrade() ? " (upgrade)" : "");
      break;
    case v1::WatchEvent::LOCK_DELAY_STARTED:
      detail = absl::StrCat("until ", At(e.lock_delay_until_unix_ms()));
      break;
    case v1::WatchEvent::WAITING:
      detail = ModeName(e.mode());
      break;
    case v1::WatchEvent::WAIT_ENDED:
      detail = absl::StrCat(e.outcome(), " after ", FormatMs(e.waited_ms()));
      break;
    default:
      detail = TerminalSafe(e.reason());
      if (!e.caller().empty()) {
        absl::StrAppend(&detail, " (by ", TerminalSafe(e.caller()), ")");
      }
  }
  return absl::StrCat(lsn, "  ", At(e.at_unix_ms()), "  ", name, "  ",
                      TerminalSafe(e.key()), "  ",
                      TerminalSafe(Who(e.session_id(), e.client_name())), "  ",
                      e.fencing_token() != 0
                          ? absl::StrCat("token=", e.fencing_token())
                          : "-",
                      detail.empty() ? "" : "  ", detail, "\n");
}

std::string SnapshotText(const v1::WatchSnapshot& s) {
  TextTable table({"KEY", "HOLDERS", "WAITERS", "SEMAPHORE", "LOCK-DELAY"});
  for (const v1::WatchedKey& k : s.keys()) {
    std::string holders, waiters;
    for (const auto& h : k.holders()) {
      absl::StrAppend(&holders, holders.empty() ? "" : " ",
                      Who(h.session_id(), h.client_name()), "#",
                      h.fencing_token(), ":", ModeName(h.mode()));
    }
    for (const auto& w : k.waiters()) {
      absl::StrAppend(&waiters, waiters.empty() ? "" : " ",
                      Who(w.session_id(), w.client_name()), ":",
                      ModeName(w.mode()));
    }
    // Cells are raw: the table escapes them (once, as EventLine does).
    table.AddRow({k.key(), holders.empty() ? "-" : holders,
                  waiters.empty() ? "-" : waiters,
                  k.semaphore_size() > 0 ? absl::StrCat(k.semaphore_size())
                                         : "-",
                  k.lock_delay_until_unix_ms() > 0
                      ? At(k.lock_delay_until_unix_ms())
                      : "-"});
  }
  return absl::StrCat("snapshot at LSN ", s.lsn(), ": ", s.keys_size(),
                      " keys in use\n", table.Render());
}

// Whether `channel` connects (READY) before it fails to (TRANSIENT_FAILURE)
// or `deadline` passes: the daemon was reachable at the start. A Watch that
// waits for events sends nothing until one comes (not even its headers), so
// the call itself cannot tell "open but quiet" from "never connected".
bool Connects(grpc::Channel* channel, absl::Time deadline) {
  grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE ||
        state == GRPC_CHANNEL_SHUTDOWN ||
        !channel->WaitForStateChange(state, absl::ToChronoTime(deadline))) {
      return false;
    }
    state = channel->GetState(/*try_to_connect=*/true);
  }
  return true;
}

// The call to cancel on a signal.
struct Interrupt {
  absl::Mutex mu;
  grpc::ClientContext* ctx ABSL_GUARDED_BY(mu) = nullptr;
  bool stop ABSL_GUARDED_BY(mu) = false;
  absl::Notification stopped;
};

}  // namespace

int RunWatch(const Invocation& inv) {
  // Signals are taken by a thread of ours (sigwait), before any other
  // thread (gRPC's) exists and inherits the mask.
  sigset_t handled;
  sigemptyset(&handled);
  sigaddset(&handled, SIGINT);
  sigaddset(&handled, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);
  Interrupt interrupt;
  std::thread signals([&] {
    int sig = 0;
    sigwait(&handled, &sig);
    absl::MutexLock lock(&interrupt.mu);
    interrupt.stop = true;
    if (interrupt.ctx != nullptr) interrupt.ctx->TryCancel();
    interrupt.stopped.Notify();
  });
  signals.detach();  // Blocked in sigwait until the process exits.

  std::shared_ptr<grpc::Channel> channel = NewChannel(inv);
  auto stub = v1::LockService::NewStub(channel);
  uint64_t after = inv.after_lsn;
  uint64_t events = 0;
  // The daemon was reached, ever: from then on UNAVAILABLE is a restart to
  // ride out, not "unreachable at the start" (exit 69). Nothing need have
  // been received: a quiet --after watch gets no message at all.
  bool reached = Connects(channel.get(), absl::Now() + inv.timeout);
  bool first = true;  // The first call: its after_lsn is the user's --after.
  absl::Duration backoff = absl::Milliseconds(100);
  while (true) {
    grpc::ClientContext ctx;
    AddCredentials(inv, &ctx);
    {
      absl::MutexLock lock(&interrupt.mu);
      if (interrupt.stop) return kExitOk;
      interrupt.ctx = &ctx;
    }
    v1::WatchRequest req;
    if (!inv.key.empty()) {
      req.set_key(inv.key);
    } else {
      req.set_prefix(inv.prefix);
    }
    req.set_after_lsn(after);
    std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader =
        stub->Watch(&ctx, req);
    v1::WatchResponse msg;
    v1::WatchSnapshot snapshot;
    bool done = false;
    while (!done && reader->Read(&msg)) {
      reached = true;
      backoff = absl::Milliseconds(100);
      if (msg.has_snapshot()) {
        if (inv.json) {
          if (int rc = PrintJson(msg); rc != kExitOk) return rc;
        } else {
          snapshot.set_lsn(msg.snapshot().lsn());
          snapshot.mutable_keys()->MergeFrom(msg.snapshot().keys());
          if (msg.snapshot().complete()) Print(SnapshotText(snapshot));
        }
        if (msg.snapshot().complete()) after = msg.snapshot().lsn();
        continue;
      }
      const v1::WatchEvent& e = msg.event();
      if (inv.json) {
        if (int rc = PrintJson(msg); rc != kExitOk) return rc;
      } else {
        Print(EventLine(e));
      }
      after = std::max(after, e.lsn() != 0 ? e.lsn() : e.after_lsn());
      if (inv.count > 0 && ++events >= inv.count) {
        ctx.TryCancel();
        done = true;
      }
    }
    const grpc::Status status = reader->Finish();
    {
      absl::MutexLock lock(&interrupt.mu);
      interrupt.ctx = nullptr;
      if (interrupt.stop) return kExitOk;
    }
    if (done) return kExitOk;
    const bool first_call = std::exchange(first, false);
    switch (status.error_code()) {
      case grpc::StatusCode::OUT_OF_RANGE:
        // The user's own --after above the last LSN was never this
        // daemon's (a typo, another daemon's): an error, not a start-over.
        // Only the message tells it from "compacted" (both OUT_OF_RANGE).
        if (first_call && inv.after_lsn != 0 &&
            absl::StrContains(status.error_message(), "ahead of the log")) {
          return Fail(inv, "Watch", status);
        }
        std::cerr << "taalactl: watch: " << TerminalSafe(status.error_message())
                  << "; starting over with a snapshot\n";
        after = 0;
        continue;
      case grpc::StatusCode::UNAVAILABLE:
      case grpc::StatusCode::CANCELLED:  // Not by us: a daemon going away.
        if (first_call && !reached) return Fail(inv, "Watch", status);
        [[fallthrough]];
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        std::cerr << "taalactl: watch: " << TerminalSafe(status.error_message())
                  << "; reconnecting after LSN " << after << " in "
                  << absl::FormatDuration(backoff) << "\n";
        if (interrupt.stopped.WaitForNotificationWithTimeout(backoff)) {
          return kExitOk;
        }
        backoff = std::min(backoff * 2, absl::Seconds(5));
        continue;
      default:
        return Fail(inv, "Watch", status);
    }
  }
}

}  // namespace taala::tools
