// taalad: the taala lock service daemon.

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/clock.h"
#include "server/core/data_dir_lock.h"
#include "server/core/lock_table.h"
#include "server/core/token_epoch.h"
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
          "Data directory (created if missing). Holds the token epoch that "
          "keeps fencing tokens from repeating across restarts, and a LOCK "
          "file: one daemon per data directory.");
ABSL_FLAG(int32_t, shards, 64,
          "Lock table shards (by hash of a key's first path segment).");
ABSL_FLAG(absl::Duration, min_session_ttl, absl::Seconds(1),
          "Shortest session lease granted; shorter requests are raised.");
ABSL_FLAG(absl::Duration, max_session_ttl, absl::Hours(1),
          "Longest session lease granted; longer requests are lowered.");
ABSL_FLAG(absl::Duration, default_session_ttl, absl::Seconds(10),
          "Lease for sessions that ask for ttl_ms = 0.");
ABSL_FLAG(int32_t, max_key_bytes, 1024, "Longest key, in bytes.");
ABSL_FLAG(absl::Duration, max_lock_delay, absl::Hours(1),
          "Longest lock-delay an acquire may ask for (lock_delay_ms).");
ABSL_FLAG(int32_t, max_key_segments, 32, "Most '/'-separated key segments.");
ABSL_FLAG(int32_t, max_pending_events, 1024,
          "Most unacknowledged events kept per session; a GRANT_REVOKED past "
          "it ends the session (\"event backlog overflow\").");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(2),
          "On SIGTERM/SIGINT, after every wait and KeepAlive stream has been "
          "ended with UNAVAILABLE: how long in-flight calls and idle client "
          "connections get before they are cut.");
ABSL_FLAG(bool, check_lock_order, false,
          "Have Abseil check every mutex acquisition against a global "
          "lock-order graph and abort on a potential deadlock. Debian's "
          "Abseil does this by default at a large cost to throughput; the "
          "test suite turns it on.");
ABSL_FLAG(std::string, log_level, "info",
          "trace, debug, info, warn, error, critical or off.");

namespace taala {
namespace {

// True if `listen` ("host:port") names a loopback address: "localhost", an
// IPv4 literal in 127.0.0.0/8 or the IPv6 literal [::1]. A host name that
// merely starts with "127." may resolve anywhere, so it is not.
bool IsLoopback(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = listen.substr(0, colon);
  if (host == "localhost") return true;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    in6_addr v6;
    return inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(),
                     &v6) == 1 &&
           IN6_IS_ADDR_LOOPBACK(&v6);
  }
  in_addr v4;
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 &&
         (ntohl(v4.s_addr) >> 24) == 127;
}

// One daemon per port across both loopback families: a taalad on
// 127.0.0.1:P binds (without listening, so clients that try it are refused
// at once) [::1]:P too, and the reverse, so that a second taalad cannot
// serve the other family on the same port while clients dialling
// "localhost:P" reach either. Returns the guard socket (-1 if none is
// needed or the other family does not exist here), or an error message if
// the other address is in use.
absl::StatusOr<int> ClaimOtherLoopback(const std::string& listen, int port) {
  const std::string host = listen.substr(0, listen.rfind(':'));
  sockaddr_storage addr = {};
  socklen_t len = 0;
  std::string other;
  if (host == "[::1]") {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(*v4);
    other = absl::StrCat("127.0.0.1:", port);
  } else if (IsLoopback(listen) && host != "localhost") {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    v6->sin6_addr = in6addr_loopback;
    len = sizeof(*v6);
    other = absl::StrCat("[::1]:", port);
  } else {
    return -1;  // localhost: gRPC binds every address it resolves to.
  }
  const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;  // No such family here: nobody can serve it.
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    const int err = errno;
    close(fd);
    if (err == EADDRINUSE) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot listen on ", listen, ": address in use on the other "
          "loopback address ", other, " (is another taalad serving there?)"));
    }
    return -1;  // E.g. IPv6 disabled: nobody can serve it either.
  }
  return fd;
}

int Fail(const std::string& message) {
  spdlog::critical("{}", message);
  return 1;
}

bool WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.good()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// Why gRPC could not listen on `listen` ("host:port"): binds a probe socket
// the way gRPC does and names the error ("address in use" when another
// process serves there).
std::string WhyCannotListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return "no port in the address";
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* addrs = nullptr;
  if (const int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(),
                                 port.c_str(), &hints, &addrs);
      rc != 0) {
    return absl::StrCat("cannot resolve it: ", gai_strerror(rc));
  }
  std::string why = "gRPC refused it";
  for (addrinfo* a = addrs; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0) {
      why = errno == EADDRINUSE
                ? "address in use (is another taalad serving there?)"
                : std::strerror(errno);
      close(fd);
      break;
    }
    close(fd);
  }
  freeaddrinfo(addrs);
  return why;
}

int Run() {
  const std::string level_name = absl::GetFlag(FLAGS_log_level);
  const spdlog::level::level_enum level =
      spdlog::level::from_str(level_name);
  if (level == spdlog::level::off && level_name != "off") {
    return Fail(absl::StrCat("--log_level: unknown level \"", level_name,
                             "\""));
  }
  spdlog::set_level(level);

  absl::SetMutexDeadlockDetectionMode(
      absl::GetFlag(FLAGS_check_lock_order) ? absl::OnDeadlockCycle::kAbort
                                            : absl::OnDeadlockCycle::kIgnore);

  const std::string listen = absl::GetFlag(FLAGS_listen);
  if (!IsLoopback(listen) && !absl::GetFlag(FLAGS_insecure_allow_remote)) {
    return Fail(absl::StrCat(
        "--listen=", listen,
        " is not a loopback address; serving it without TLS exposes every "
        "lock to the network. Pass --insecure_allow_remote to do it anyway."));
  }

  LockTable::Options options;
  if (absl::GetFlag(FLAGS_shards) < 1) return Fail("--shards must be >= 1");
  options.shards = static_cast<size_t>(absl::GetFlag(FLAGS_shards));
  options.min_session_ttl = absl::GetFlag(FLAGS_min_session_ttl);
  options.max_session_ttl = absl::GetFlag(FLAGS_max_session_ttl);
  options.default_session_ttl = absl::GetFlag(FLAGS_default_session_ttl);
  if (options.min_session_ttl <= absl::ZeroDuration() ||
      options.max_session_ttl < options.min_session_ttl ||
      options.default_session_ttl < options.min_session_ttl ||
      options.default_session_ttl > options.max_session_ttl) {
    return Fail(
        "session TTL flags must satisfy 0 < --min_session_ttl <= "
        "--default_session_ttl <= --max_session_ttl");
  }
  if (absl::GetFlag(FLAGS_max_key_bytes) < 1 ||
      absl::GetFlag(FLAGS_max_key_segments) < 1) {
    return Fail("--max_key_bytes and --max_key_segments must be >= 1");
  }
  options.key_limits.max_bytes =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_key_bytes));
  options.key_limits.max_segments =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_key_segments));

  if (absl::GetFlag(FLAGS_max_pending_events) < 1) {
    return Fail("--max_pending_events must be >= 1");
  }
  options.max_pending_events =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_pending_events));

  options.max_lock_delay = absl::GetFlag(FLAGS_max_lock_delay);
  if (options.max_lock_delay < absl::ZeroDuration()) {
    return Fail("--max_lock_delay must not be negative");
  }

  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  // Held until Run returns: one daemon per data directory.
  absl::StatusOr<DataDirLock> dir_lock = DataDirLock::Acquire(data_dir);
  if (!dir_lock.ok()) return Fail(std::string(dir_lock.status().message()));
  absl::StatusOr<uint64_t> epoch = NextTokenEpoch(data_dir);
  if (!epoch.ok()) return Fail(std::string(epoch.status().message()));
  // Until the write-ahead log is wired in: LSNs above every earlier start.
  MemoryLog log((*epoch << 40) + 1);
  options.log = &log;

  LockTable table(options);
  LoggingObserver observer;
  table.set_observer(&observer);
  LockServiceImpl service(&table, RealClock());
  TimerLoop timers(&table, RealClock());

  // Signals are taken by sigwait below; gRPC's threads inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  // One daemon per port: with SO_REUSEPORT (gRPC's default) a second taalad
  // binds the same port and the kernel splits clients between two
  // independent lock tables, so two of them could hold one key.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Let clients detect dead connections with HTTP/2 pings (the client
  // library pings every 10 s, also while idle).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return Fail(absl::StrCat("cannot listen on ", listen, ": ",
                             WhyCannotListen(listen)));
  }
  absl::StatusOr<int> guard = ClaimOtherLoopback(listen, port);
  if (!guard.ok()) {
    server->Shutdown();
    return Fail(std::string(guard.status().message()));
  }
  timers.Start();
  const std::string host = listen.substr(0, listen.rfind(':'));
  spdlog::info(
      "taalad listening on {}:{} (data dir {}, token epoch {}, {} shards)",
      host, port, data_dir, *epoch, options.shards);
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty() && !WritePortFile(port_file, port)) {
    return Fail(absl::StrCat("cannot write --port_file ", port_file));
  }

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received signal {}; draining (up to {})", sig,
               absl::FormatDuration(absl::GetFlag(FLAGS_drain_timeout)));
  server->GetHealthCheckService()->SetServingStatus(false);
  table.Shutdown();
  server->Shutdown(absl::ToChronoTime(absl::Now() +
                                      absl::GetFlag(FLAGS_drain_timeout)));
  timers.Stop();
  if (*guard >= 0) close(*guard);
  spdlog::info("taalad stopped");
  return 0;
}

}  // namespace
}  // namespace taala

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "taalad: the taala distributed lock service.\n"
      "Usage: taalad [--listen=127.0.0.1:7070] [--data_dir=taala-data] ...");
  absl::ParseCommandLine(argc, argv);
  return taala::Run();
}
