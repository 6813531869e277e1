// taalad: the taala lock service daemon.

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/version.h"
#include "server/admin_listener.h"
#include "server/core/clock.h"
#include "server/core/data_dir_lock.h"
#include "server/core/lock_table.h"
#include "server/daemon_cli.h"
#include "server/daemon_metrics.h"
#include "server/limit_transport_flags.h"
#include "server/grpc_server.h"
#include "server/listen_address.h"
#include "server/policy_flags.h"
#include "server/security_flags.h"
#include "server/stats_flags.h"
#include "server/systemd_notify.h"
#include "server/limit_flags.h"
#include "server/table_flags.h"
#include "server/wal/dump.h"
#include "server/wal/recovery.h"
#include "server/wal/wal.h"
#include "server/rpc/admin_service.h"
#include "server/rpc/lock_service.h"
#include "server/rpc/logging_observer.h"
#include "server/rpc/timer_loop.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070",
          "Address to serve gRPC on, host:port. Port 0 picks a free port "
          "(logged, and written to --port_file).");
ABSL_FLAG(bool, insecure_allow_remote, false,
          "Allow --listen on a non-loopback address without TLS.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the chosen port is written to this file once serving.");
ABSL_FLAG(std::string, data_dir, "taala-data",
          "Data directory (created if missing): the write-ahead log "
          "(wal/), snapshots (snapshot/), the LSN reservation that keeps "
          "fencing tokens from ever repeating, and a LOCK file: one daemon "
          "per data directory.");
ABSL_FLAG(std::string, durability, "fsync",
          "fsync: a reply leaves only once its records are on disk (group "
          "commit); nothing acknowledged is lost by a crash. async: records "
          "are written and fsynced in the background; after a crash no "
          "session is restored and grants are refused for the longest "
          "session TTL. none: no log; as async, and only a clean stop "
          "(SIGTERM) keeps state.");
ABSL_FLAG(absl::Duration, restart_grace, absl::Seconds(5),
          "After a restart every restored session's lease runs for its own "
          "TTL plus this, so that live clients can reconnect.");
ABSL_FLAG(std::string, dump_wal, "",
          "Print the snapshot and write-ahead log of this data directory, "
          "one record a line, and exit (changes nothing).");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(2),
          "On SIGTERM/SIGINT, after every wait and KeepAlive stream has been "
          "ended with UNAVAILABLE: how long in-flight calls and idle client "
          "connections get before they are cut.");
ABSL_FLAG(bool, check_lock_order, false,
          "Have Abseil check every mutex acquisition against a global "
          "lock-order graph and abort on a potential deadlock. Debian's "
          "Abseil does this by default at a large cost to throughput; the "
          "test suite turns it on.");
ABSL_FLAG(int64_t, fault_wal_fail_write_after_bytes, -1,
          "For tests (fault injection): log writes fail with ENOSPC once "
          "this many bytes have been written. -1: never.");
ABSL_FLAG(bool, fault_wal_fail_fsync, false,
          "For tests (fault injection): every log fsync fails with EIO.");
ABSL_FLAG(std::string, admin_listen, "127.0.0.1:7071",
          "Address of the HTTP admin listener, host:port (read-only: "
          "/metrics, /healthz, /readyz, /api/v1/..., the dashboard at /). "
          "Empty: none. A non-loopback address needs "
          "--insecure_allow_remote. Port 0 picks a free port (logged, and "
          "written to --admin_port_file).");
ABSL_FLAG(std::string, admin_port_file, "",
          "If set, the admin listener's port is written to this file once "
          "it serves (before --port_file).");

namespace taala {
namespace {

int Fail(const std::string& message) {
  spdlog::critical("{}", WithFlagSources(message));
  return 1;
}

int Run() {
  // Taken by sigwait at the end, blocked before any thread starts: one that
  // did not block them could take one, and its default action ends taalad.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // Reloads --auth_tokens_file and --acl_file.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  if (absl::Status s = SetUpLogging(); !s.ok()) {
    return Fail(std::string(s.message()));
  }

  absl::SetMutexDeadlockDetectionMode(
      absl::GetFlag(FLAGS_check_lock_order) ? absl::OnDeadlockCycle::kAbort
                                            : absl::OnDeadlockCycle::kIgnore);

  absl::StatusOr<std::unique_ptr<DaemonSecurity>> security = SetUpSecurity();
  if (!security.ok()) return Fail(std::string(security.status().message()));
  const std::string listen = absl::GetFlag(FLAGS_listen);
  if (absl::Status s = CheckListenAddress(listen); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  if (!IsLoopback(listen) && !(*security)->tls &&
      !absl::GetFlag(FLAGS_insecure_allow_remote)) {
    return Fail(absl::StrCat(
        "--listen=", listen,
        " is not a loopback address; serving it without TLS exposes every "
        "lock to the network. Pass --insecure_allow_remote to do it anyway."));
  }
  const std::string admin_listen = absl::GetFlag(FLAGS_admin_listen);
  if (absl::Status s = CheckAdminListen(
          admin_listen, absl::GetFlag(FLAGS_insecure_allow_remote),
          &(*security)->auth);
      !s.ok()) {
    return Fail(std::string(s.message()));
  }

  LockTable::Options options;
  if (absl::Status s = ApplyTableFlags(&options); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  if (absl::Status s = ApplyLimitFlags(&options); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  if (absl::Status s = ApplyStatsFlags(&options); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  PolicyHolder policies;
  absl::StatusOr<std::unique_ptr<PolicyReloader>> reloader =
      StartPolicyFile(&options, &policies);
  if (!reloader.ok()) return Fail(std::string(reloader.status().message()));

  absl::StatusOr<wal::Durability> durability =
      wal::ParseDurability(absl::GetFlag(FLAGS_durability));
  if (!durability.ok()) {
    return Fail(absl::StrCat("--durability: ", durability.status().message()));
  }
  const absl::Duration restart_grace = absl::GetFlag(FLAGS_restart_grace);
  if (restart_grace < absl::ZeroDuration()) {
    return Fail("--restart_grace must not be negative");
  }

  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  // Held until Run returns: one daemon per data directory.
  absl::StatusOr<DataDirLock> dir_lock = DataDirLock::Acquire(data_dir);
  if (!dir_lock.ok()) return Fail(std::string(dir_lock.status().message()));

  // Recovery: the snapshot, then the log after it.
  const absl::Time recovery_start = absl::Now();
  wal::WalOptions wal_options;
  wal_options.dir = data_dir;
  wal_options.durability = *durability;
  wal_options.max_events = options.max_pending_events;
  wal_options.fail_write_after_bytes =
      absl::GetFlag(FLAGS_fault_wal_fail_write_after_bytes);
  wal_options.fail_fsync = absl::GetFlag(FLAGS_fault_wal_fail_fsync);
  wal_options.on_fatal = LogFatalLogErrorAndExit;
  absl::StatusOr<WatchFlags> watch_flags = GetWatchFlags();
  if (!watch_flags.ok()) {
    return Fail(std::string(watch_flags.status().message()));
  }
  wal_options.keep_replayed = watch_flags->history;
  absl::StatusOr<wal::Recovered> recovered =
      wal::Recover(wal_options, options.max_session_ttl);
  if (!recovered.ok()) return Fail(std::string(recovered.status().message()));
  for (const std::string& warning : recovered->warnings) {
    spdlog::warn("{}", warning);
  }
  // What the status and the log lines need; the state itself goes to the
  // log (no copy), restores the table and then belongs to the snapshot
  // thread (nothing here keeps it for the daemon's life).
  const uint64_t records_replayed = recovered->records_replayed;
  const uint64_t snapshot_lsn = recovered->snapshot_lsn;
  const uint64_t next_lsn = recovered->next_lsn;
  const bool previous_clean = recovered->previous_clean;
  const wal::Durability previous_mode = recovered->previous_mode;
  const bool restore_sessions = recovered->restore_sessions;
  const absl::Duration refuse_grants_for = recovered->refuse_grants_for;
  // Watch may resume across the restart after any LSN the records replayed
  // cover, unless an unclean async or none run may have shown watchers
  // records the log lost; after a clean stop, from the last key record
  // before the snapshot (session records and ids may follow it).
  const std::deque<Transition> replayed = std::move(recovered->replayed);
  const uint64_t watch_floor = std::max(recovered->snapshot_watch_floor,
                                        recovered->replayed_dropped_lsn);
  const bool seed_watch =
      previous_clean || previous_mode == wal::Durability::kFsync;
  absl::StatusOr<std::unique_ptr<wal::Wal>> log =
      wal::Wal::Open(wal_options, std::move(*recovered));
  recovered = absl::StatusOr<wal::Recovered>();  // Nothing left in it.
  if (!log.ok()) return Fail(std::string(log.status().message()));
  wal::Wal& wal = **log;
  wal.Start();
  // Watch: the hub sits between the table and the log (watch_hub.h).
  WatchHub hub(&wal, watch_flags->history);
  if (seed_watch) hub.Seed(replayed, watch_floor, wal.recovered_state());
  options.log = &hub;
  // Records carry wall-clock times; the table runs on the steady clock.
  options.wall_offset = absl::Now() - RealClock()->Now();

  LockTable table(options);
  // --memory_budget: above it, new sessions and waits are refused.
  auto memory = StartMemoryMonitor([&table](bool over, std::string message) {
    table.SetOverMemoryBudget(over, std::move(message));
  });
  if (!memory.ok()) return Fail(std::string(memory.status().message()));
  size_t grants_restored = 0;
  size_t sessions_restored = 0;
  {
    const DurableState& state = wal.recovered_state();
    table.Restore(state, RealClock()->Now(), restart_grace, restore_sessions);
    if (restore_sessions) {
      for (const auto& [key, k] : state.keys) {
        grants_restored += k.holders.size();
      }
      sessions_restored = state.sessions.size();
    }
  }
  wal.DoneWithRecoveredState();
  const absl::Duration recovery_time = absl::Now() - recovery_start;
  spdlog::info(
      "recovered {} sessions and {} grants in {} ({} log records after the "
      "snapshot at LSN {}; previous stop {}, {} mode); next LSN {}",
      sessions_restored, grants_restored, absl::FormatDuration(recovery_time),
      records_replayed, snapshot_lsn, previous_clean ? "clean" : "unclean",
      wal::DurabilityName(previous_mode), next_lsn);
  if (refuse_grants_for > absl::ZeroDuration()) {
    table.RefuseGrantsUntil(RealClock()->Now() + refuse_grants_for);
    if (!restore_sessions) {
      spdlog::warn(
          "the previous run stopped uncleanly in {} mode: its sessions are "
          "not restored and grants are refused for {} (the longest session "
          "TTL it may have granted), so that none of its holders still "
          "believes it holds a key",
          wal::DurabilityName(previous_mode),
          absl::FormatDuration(refuse_grants_for));
    } else {
      spdlog::warn(
          "grants are refused for {} more: the refusal window that an earlier "
          "unclean stop started ({}/grants_refused_until) has not run out",
          absl::FormatDuration(refuse_grants_for), data_dir);
    }
  }

  LoggingObserver observer;
  table.set_observer(&observer);
  LockServiceImpl service(&table, RealClock());
  service.set_policies(&policies);
  service.set_session_ttl_hook([&wal](absl::Duration ttl) {
    absl::Status s = wal.NoteSessionTtl(ttl);
    if (!s.ok()) {
      // As for any failed write to the data directory: stop.
      spdlog::critical("{}", std::string(s.message()));
      std::_Exit(1);
    }
    return s;
  });
  service.set_status_source([&, durability = *durability](v1::ServerStatus* st) {
    st->set_durability(wal::DurabilityName(durability));
    st->set_sessions_restored(sessions_restored);
    st->set_grants_restored(grants_restored);
    st->set_records_replayed(records_replayed);
    st->set_snapshot_lsn(snapshot_lsn);
    st->set_recovery_ms(absl::ToInt64Milliseconds(recovery_time));
    st->set_previous_stop_clean(previous_clean);
    const wal::Wal::Stats stats = wal.stats();
    st->set_wal_records(stats.records);
    st->set_wal_fsyncs(stats.fsyncs);
    st->set_wal_bytes(stats.bytes_written);
    st->set_version(
        absl::StrCat(TaalaVersion(), " (commit ", TaalaGitCommit(), ")"));
  });
  WatchPump watch_pump(&table, &hub, watch_flags->buffer);
  service.set_watch_pump(&watch_pump);
  service.set_metrics_source([&wal, &watch_pump](v1::Metrics* m) {
    FillWalMetrics(wal.stats(), m);
    m->set_watchers(watch_pump.watchers());
    m->set_watchers_too_slow(watch_pump.ended_too_slow());
    m->set_in_flight_calls(GrpcCallsInFlight());
  });
  // Operator actions (docs/admin.md), on the same server.
  AdminServiceImpl admin_service(&table, RealClock());
  service.set_gate((*security)->gate.get());
  admin_service.set_gate((*security)->gate.get());
  TimerLoop timers(&table, RealClock());

  int port = 0;
  absl::StatusOr<std::unique_ptr<grpc::Server>> started = StartGrpcServer(
      listen, (*security)->credentials, {&service, &admin_service}, &port);
  if (!started.ok()) return Fail(std::string(started.status().message()));
  std::unique_ptr<grpc::Server> server = *std::move(started);
  absl::StatusOr<int> guard = ClaimOtherLoopback(listen, port);
  if (!guard.ok()) {
    server->Shutdown();
    return Fail(std::string(guard.status().message()));
  }
  // After the server: the listener reads the table through it (recovery is
  // over by now, so /readyz may say ready at once).
  absl::StatusOr<std::unique_ptr<admin::AdminServer>> admin =
      StartAdmin(admin_listen, absl::GetFlag(FLAGS_admin_port_file),
                 server.get(), &(*security)->auth);
  if (!admin.ok()) {
    server->Shutdown();
    return Fail(std::string(admin.status().message()));
  }
  timers.Start();
  watch_pump.Start();
  const std::string where = BoundAddress(listen, port);  // listen_address.h
  spdlog::info(
      "taalad listening on {} (data dir {}, durability {}, {} shards)",
      where, data_dir, wal::DurabilityName(*durability), options.shards);
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty() && !WritePortFile(port_file, port)) {
    return Fail(absl::StrCat("cannot write --port_file ", port_file));
  }
  NotifyServiceManager(absl::StrCat("READY=1\nSTATUS=serving on ", where));

  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) (*security)->Reload();
  NotifyServiceManager("STOPPING=1\nSTATUS=draining");
  spdlog::info("received signal {}; draining (up to {})", sig,
               absl::FormatDuration(absl::GetFlag(FLAGS_drain_timeout)));
  server->GetHealthCheckService()->SetServingStatus(false);
  // Before the server shuts down: no in-process call may start after that.
  if (*admin != nullptr) (*admin)->Drain();
  table.Shutdown();
  watch_pump.Shutdown();
  server->Shutdown(absl::ToChronoTime(absl::Now() +
                                      absl::GetFlag(FLAGS_drain_timeout)));
  admin->reset();  // Its calls go through the server, which is done.
  timers.Stop();
  if (*guard >= 0) close(*guard);
  // Nothing appends any more but work waiting for durability (which may
  // append in turn, say the undo of a grant nobody received): let it drain.
  for (uint64_t lsn = 0; lsn != wal.LastLsn();) {
    lsn = wal.LastLsn();
    absl::Notification drained;
    wal.WhenDurable(lsn, [&drained] { drained.Notify(); });
    drained.WaitForNotification();
  }
  // The final snapshot: a clean stop restores everything, in every mode.
  const DurableState final_state = table.ExportState();
  // The next run's Watch resumes from this run's last key record.
  if (absl::Status closed = wal.Close(&final_state, hub.last_key_lsn());
      !closed.ok()) {
    return Fail(absl::StrCat("cannot write the final snapshot: ",
                             closed.message()));
  }
  spdlog::info("taalad stopped (snapshot at LSN {}: {} sessions, {} keys)",
               final_state.lsn, final_state.sessions.size(),
               final_state.keys.size());
  return 0;
}

}  // namespace
}  // namespace taala

int main(int argc, char** argv) {
  taala::ParseDaemonCommandLine(argc, argv);
  if (const std::string dir = absl::GetFlag(FLAGS_dump_wal); !dir.empty()) {
    absl::Status dumped = taala::wal::DumpWal(dir, std::cout);
    if (!dumped.ok()) {
      std::cerr << "taalad --dump_wal: " << dumped.message() << "\n";
      return 1;
    }
    return 0;
  }
  return taala::Run();
}
