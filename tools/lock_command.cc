// taalactl lock: take a key, run a command while holding it, release it.
//
// Signals. RunLock blocks SIGINT, SIGTERM, SIGHUP, SIGCHLD and SIGUSR1 before
// any thread exists, so every thread (gRPC's, the session's keepalive) keeps
// them blocked and only the main thread sees them, synchronously, with
// sigtimedwait. SIGUSR1 is the internal wake-up: the acquiring thread and the
// session's on_lost callback send it to the main thread. The command is
// started with taalactl's original signal mask.
//
// While waiting for the key, SIGINT/SIGTERM/SIGHUP close the session (which
// ends the wait on the server, or releases a grant that raced in) and exit
// 128+signal. While the command runs they are forwarded to it, unless the
// terminal sent them (si_code SI_KERNEL): then the command, in the same
// foreground process group, got them already.

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/lock_client.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/exit_codes.h"
#include "tools/text_table.h"

extern char** environ;

namespace taala::tools {
namespace {

// taalad's limit on client_name (LockTable::Options::max_client_name_bytes).
constexpr size_t kMaxClientNameBytes = 256;
// How often the main thread looks at the session while nothing happens.
constexpr absl::Duration kPollInterval = absl::Milliseconds(100);

// Every message goes through TerminalSafe here, once, as a whole: they carry
// what other clients chose (holders' client names and labels), the daemon's
// error messages (which echo keys) and the key given on the command line, and
// none of those may move the cursor or forge a line on the operator's
// terminal. So the parts are put in raw, never escaped before.
void Warn(absl::string_view message) {
  std::cerr << "taalactl: " << TerminalSafe(message) << std::endl;
}

std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

// The next signal of `set` within `timeout`, or 0.
int NextSignal(const sigset_t& set, absl::Duration timeout, siginfo_t* info) {
  timespec ts = absl::ToTimespec(timeout);
  const int sig = sigtimedwait(&set, info, &ts);
  return sig > 0 ? sig : 0;
}

bool IsStopSignal(int sig) {
  return sig == SIGINT || sig == SIGTERM || sig == SIGHUP;
}

// The shell's convention: 128+N for a command killed by signal N.
int ExitStatusOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return kExitError;
}

// The environment for COMMAND: ours, with TAALA_KEY and TAALA_FENCING_TOKEN
// set (replacing any inherited ones).
std::vector<std::string> CommandEnvironment(const LockGrant& grant) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (absl::StartsWith(*e, "TAALA_KEY=") ||
        absl::StartsWith(*e, "TAALA_FENCING_TOKEN=")) {
      continue;
    }
    env.emplace_back(*e);
  }
  env.push_back(absl::StrCat("TAALA_KEY=", grant.key));
  env.push_back(absl::StrCat("TAALA_FENCING_TOKEN=", grant.fencing_token));
  return env;
}

// Starts argv[0] (searched in PATH) with `env` and `sigmask`; `sigdefault`
// signals are reset to their default action in the child. posix_spawnp,
// rather than fork+exec: this process runs gRPC's threads, and a forked
// child of a threaded process may only call async-signal-safe functions;
// posix_spawnp also reports a failed exec (ENOENT, EACCES) to the caller.
// On failure, `*error` is the errno.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                            const std::vector<std::string>& env,
                            const sigset_t& sigmask,
                            const sigset_t& sigdefault, int* error) {
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  for (const std::string& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setsigmask(&attr, &sigmask);
  posix_spawnattr_setsigdefault(&attr, &sigdefault);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  *error = posix_spawnp(&pid, cargv[0], nullptr, &attr, cargv.data(),
                        cenv.data());
  posix_spawnattr_destroy(&attr);
  if (*error != 0) {
    return absl::InternalError(absl::StrCat("cannot run ", Quote(argv[0]),
                                            ": ", std::strerror(*error)));
  }
  return pid;
}

// The lock is lost when the session is, or when the server revoked the grant
// (GRANT_REVOKED: an operator's force-release, or a max hold).
bool Lost(const Session& session, const LockGrant& grant) {
  return session.lost() || session.Revoked(grant);
}

// Why the lock counts as lost. The client may report lost() (the lease ran
// out unconfirmed) a moment before it records the cause.
std::string LostReason(const Session& session, const LockGrant& grant) {
  if (!session.lost() && session.Revoked(grant)) {
    return "the server revoked the grant (GRANT_REVOKED; taalad's log says "
           "who and why)";
  }
  absl::Status status = session.lost_status();
  if (status.ok()) {
    return absl::StrCat("no keepalive confirmed within the session's TTL (",
                        absl::FormatDuration(session.ttl()), ")");
  }
  return status.ToString();
}

// The result of Session::Acquire, made on a thread of its own so that the
// main thread stays free to react to signals.
struct PendingAcquire {
  absl::Notification done;
  absl::StatusOr<std::optional<LockGrant>> result =
      absl::UnknownError("not finished");
};

// "session 12 (client \"x\", host=h1,pid=42) for 3.2s"; raw, for Warn to
// escape.
std::string HolderText(const v1::Holder& h) {
  return absl::StrCat(
      "session ", h.grant().session_id(), " (client ",
      Quote(h.client_name()),
      h.labels().empty() ? "" : absl::StrCat(", ", LabelsText(h.labels())),
      ") ", ModeName(h.grant().mode()), " for ",
      FormatMs(h.grant().held_for_ms()));
}

// Who keeps inv.key from being granted, as DescribeLock says now: its
// holders ("is held by ...") and holders above or below it in the key tree
// ("is blocked by ..."); empty if the answer names nobody (the holder left
// meanwhile) or the call fails. Raw, for Warn to escape.
std::string WhoHolds(const Invocation& inv) {
  auto stub = NewStub(inv);
  grpc::ClientContext ctx;
  SetDeadline(inv, &ctx);
  v1::DescribeLockRequest req;
  req.set_key(inv.key);
  req.set_max_waiters(1);
  v1::DescribeLockResponse resp;
  if (!stub->DescribeLock(&ctx, req, &resp).ok()) return "";
  std::vector<std::string> holders;
  for (const v1::Holder& h : resp.holders()) holders.push_back(HolderText(h));
  std::vector<std::string> blockers;
  for (const v1::TreeBlocker& b : resp.blocked_from_above()) {
    blockers.push_back(absl::StrCat(HolderText(b.holder()), " on ancestor ",
                                    Quote(b.key())));
  }
  for (const v1::TreeBlocker& b : resp.blocked_from_below()) {
    blockers.push_back(absl::StrCat(HolderText(b.holder()), " on ",
                                    Quote(b.key()), " below it"));
  }
  std::string out;
  if (!holders.empty()) {
    out = absl::StrCat("by ", absl::StrJoin(holders, "; "));
  }
  if (!blockers.empty()) {
    absl::StrAppend(&out, out.empty() ? "" : ", and ", "blocked by ",
                    absl::StrJoin(blockers, "; "));
  }
  return out;
}

}  // namespace

int RunLock(const Invocation& inv) {
  // Before any thread exists: see the file comment.
  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1}) {
    sigaddset(&handled, sig);
  }
  sigset_t original_mask;
  pthread_sigmask(SIG_BLOCK, &handled, &original_mask);
  // gRPC may ignore SIGPIPE in this process; the command gets the
  // disposition taalactl started with.
  sigset_t sigdefault;
  sigemptyset(&sigdefault);
  {
    struct sigaction pipe_action;
    if (sigaction(SIGPIPE, nullptr, &pipe_action) == 0 &&
        pipe_action.sa_handler == SIG_DFL) {
      sigaddset(&sigdefault, SIGPIPE);
    }
  }
  const pthread_t main_thread = pthread_self();

  const ClientOptions client_options = ClientOptionsFor(inv);
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(client_options);
  if (!client.ok()) {
    Warn(absl::StrCat("cannot connect to ", inv.endpoint, ": ",
                      client.status().ToString()));
    return client.status().code() == absl::StatusCode::kInvalidArgument
               ? kExitUsage
               : ExitCodeFor(client.status().code());
  }

  SessionOptions session_options;
  session_options.ttl = inv.ttl;
  session_options.client_name =
      TruncateUtf8(absl::StrCat("taalactl lock ", inv.key), kMaxClientNameBytes);
  session_options.labels = {{"host", HostName()},
                            {"pid", absl::StrCat(getpid())}};
  // Run on the session's threads: only wake the main thread, which reads
  // lost() and Revoked() itself.
  auto wake = [main_thread](auto&&...) { pthread_kill(main_thread, SIGUSR1); };
  session_options.on_lost = wake;
  session_options.on_revoked = wake;
  absl::StatusOr<std::unique_ptr<Session>> session =
      (*client)->CreateSession(session_options);
  if (!session.ok()) {
    Warn(absl::StrCat("cannot create a session at ", inv.endpoint, ": ",
                      session.status().ToString()));
    return ExitCodeFor(session.status().code());
  }

  // Take the key, reacting to signals meanwhile.
  auto pending = std::make_shared<PendingAcquire>();
  AcquireOptions acquire_options;
  acquire_options.wait = inv.wait;
  acquire_options.shared = inv.shared;
  acquire_options.semaphore_size = inv.semaphore;
  std::thread acquirer([&session, &inv, pending, acquire_options,
                        main_thread] {
    pending->result = (*session)->Acquire(inv.key, acquire_options);
    pending->done.Notify();
    pthread_kill(main_thread, SIGUSR1);
  });
  while (!pending->done.HasBeenNotified()) {
    siginfo_t info;
    const int sig = NextSignal(handled, kPollInterval, &info);
    if (!IsStopSignal(sig)) continue;
    Warn(absl::StrCat(strsignal(sig), " while waiting for key ",
                      Quote(inv.key), "; giving up"));
    // Ends the wait on the server (and releases a grant that raced in).
    absl::Status closed = (*session)->Close();
    if (!closed.ok()) {
      Warn(absl::StrCat("closing the session: ", closed.ToString(),
                        "; the server ends it within its TTL"));
    }
    if (pending->done.WaitForNotificationWithTimeout(inv.timeout)) {
      acquirer.join();
      return 128 + sig;
    }
    // The acquire call is stuck on an unresponsive server: leave without
    // unwinding the objects it uses.
    std::cerr.flush();
    _exit(128 + sig);
  }
  acquirer.join();
  if (!pending->result.ok()) {
    Warn(absl::StrCat("cannot acquire key ", Quote(inv.key), " at ",
                      inv.endpoint, ": ", pending->result.status().ToString()));
    return ExitCodeFor(pending->result.status().code());
  }
  if (!pending->result->has_value()) {
    std::string held_by = "is held by another session";
    if (inv.semaphore > 0) {
      held_by = absl::StrCat("has all ", inv.semaphore,
                             " of its semaphore slots held");
    } else if (inv.shared) {
      held_by = "is held EXCLUSIVE, or an EXCLUSIVE request waits for it";
    }
    // Who, as of now: the on-call engineer's next question.
    const std::string who = WhoHolds(inv);
    if (absl::StartsWith(who, "by ")) {
      held_by = absl::StrCat(
          inv.semaphore > 0 ? absl::StrCat("has all ", inv.semaphore,
                                           " of its semaphore slots held")
                            : std::string("is held"),
          " ", who);
    } else if (!who.empty()) {
      held_by = absl::StrCat("is ", who);  // "is blocked by ...".
    }
    Warn(absl::StrCat("key ", Quote(inv.key), " ", held_by,
                      "; not acquired ",
                      inv.wait == absl::ZeroDuration()
                          ? std::string("(--wait 0)")
                          : absl::StrCat("within ",
                                         absl::FormatDuration(inv.wait))));
    (*session)->Close().IgnoreError();
    return kExitNotAcquired;
  }
  const LockGrant grant = **pending->result;

  int spawn_error = 0;
  absl::StatusOr<pid_t> child =
      Spawn(inv.argv, CommandEnvironment(grant), original_mask, sigdefault,
            &spawn_error);
  if (!child.ok()) {
    Warn(std::string(child.status().message()));
    (*session)->Release(grant).IgnoreError();
    (*session)->Close().IgnoreError();
    return spawn_error == ENOENT ? kExitNotFound : kExitCannotRun;
  }

  // Wait for the command, forwarding signals and watching the session.
  bool lost = false;
  std::optional<int> wait_status;  // Unset if waitpid failed.
  while (true) {
    siginfo_t info;
    const int sig = NextSignal(handled, kPollInterval, &info);
    if (IsStopSignal(sig) && info.si_code != SI_KERNEL) kill(*child, sig);
    if (!lost && Lost(**session, grant)) {
      lost = true;
      Warn(absl::StrCat(
          "WARNING: lost the lock on key ", Quote(inv.key), " (token ",
          grant.fencing_token, ") while the command runs: ",
          LostReason(**session, grant),
          "; sending SIGTERM to the command (pid ", *child, ")"));
      kill(*child, SIGTERM);
    }
    // The child is reaped only here, so *child names it until then.
    int status = 0;
    const pid_t reaped = waitpid(*child, &status, WNOHANG);
    if (reaped == *child) {
      wait_status = status;
      break;
    }
    if (reaped < 0 && errno != EINTR) {
      Warn(absl::StrCat("waiting for the command: ", std::strerror(errno)));
      break;
    }
  }
  int code = wait_status.has_value() ? ExitStatusOf(*wait_status) : kExitError;
  if (!lost && Lost(**session, grant)) {
    lost = true;
    Warn(absl::StrCat("WARNING: the lock on key ", Quote(inv.key), " (token ",
                      grant.fencing_token, ") was lost before the command "
                      "ended: ", LostReason(**session, grant)));
  }
  if (lost) {
    // Never report success for a run that did not hold the lock throughout.
    if (code == 0) code = kExitError;
  } else if (absl::Status released = (*session)->Release(grant);
             !released.ok()) {
    Warn(absl::StrCat("releasing key ", Quote(inv.key), ": ",
                      released.ToString(), "; closing the session instead"));
  }
  if (absl::Status closed = (*session)->Close(); !closed.ok()) {
    Warn(absl::StrCat("closing the session: ", closed.ToString(),
                      "; the server ends it (and releases the key) within ",
                      absl::FormatDuration((*session)->ttl())));
  }
  return code;
}

}  // namespace taala::tools
