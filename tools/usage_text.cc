// taalactl's usage texts: the general one (--help) and each command's own
// (COMMAND --help), declared in tools/taalactl_args.h.

#include <string>

#include "tools/taalactl_args.h"

namespace taala::tools {

const char* UsageText() {
  return R"(Usage: taalactl [OPTIONS] COMMAND [ARGS]

Commands:
  lock [--wait D] [--ttl D] [--shared | --semaphore N]
       KEY [--] COMMAND [ARGS...]
            Take KEY, run COMMAND with TAALA_KEY and TAALA_FENCING_TOKEN in
            its environment while keeping the session alive, release KEY when
            it exits, and exit with its status. Exits 75 without running
            COMMAND if KEY is not acquired within --wait (naming its holder).
  describe KEY        Holders (with labels) and waiters (in queue order) of
                      KEY, and holders above or below it in the key tree that
                      keep it from being granted.
  list [--held-longer-than D] [--contended] [PREFIX]
                      Held keys starting with PREFIX (all keys if none).
  sessions            Live sessions.
  deadlocks           The wait-for graph (who waits for whom, on which key)
                      and the recent acquires refused as deadlocks, with
                      their cycles.
  leaks [--held-longer-than D] [--p99-factor F]
                      Grants that look leaked: held longer than D, or F times
                      longer than their key's p99 hold.
  contention [--limit N]
                      The most contended keys: by waiters now, and by time
                      waited over the recent window.
  stats [--prefix] [KEY | PREFIX/]
                      Acquire outcomes, wait and hold percentiles,
                      revocations, expiries, deadlock refusals, and the
                      suggested max hold and wait timeout of a key, or of a
                      prefix (ends in '/', or --prefix); every key if none;
                      and the lock policy in force for it.
  policies            The lock policies in force (taalad --policy_file) and
                      the last refused reload.
  watch [--key KEY] [--after LSN] [--count N] [PREFIX]
                      The holders and waiters of PREFIX's keys (every key if
                      none), then every change as it happens; reconnects and
                      resumes by itself. Ctrl-C ends it.
  health [--admin HOST:PORT [--ready]]
                      The server's health (exit 0 when SERVING); with
                      --admin: GET /healthz (or /readyz) of taalad's HTTP
                      admin listener (exit 0 on HTTP 200).
  force-release KEY --reason R [--skip-lock-delay] [--session ID] [--token T]
                      Take KEY from its holder(s) (AdminService): each gets
                      GRANT_REVOKED with R; the next waiter gets KEY.
  revoke SESSION --reason R [--skip-lock-delay]
                      End SESSION as if its lease ran out: its keys go to
                      their next waiters, its waits are cancelled.
  release KEY --session ID --token T
                      Release a grant on behalf of its session (a holder
                      whose process is gone while its session lives).
  hash-token IDENTITY Read a bearer token from stdin and print its line for
                      taalad --auth_tokens_file ("IDENTITY sha256:HEX").
  help [COMMAND]      This text, or COMMAND's (also: taalactl COMMAND --help).

Options (before or after COMMAND):
  --endpoint HOST[:PORT]  taalad to talk to (default: $TAALA_ENDPOINT, else
                        127.0.0.1:7070; port 7070 if none or empty; PORT
                        1..65535; scheme targets such as dns:///H:P and
                        unix:/PATH as given)
  --json                The response as proto3 JSON (docs/taalactl.md)
  --timeout D           Deadline of each call that does not wait for a lock
                        (default 5s)
  --version             Print the version and git commit, and exit
  --tls-ca FILE         Speak TLS; the server's certificate must chain to
                        these PEM CA certificates (default: $TAALA_TLS_CA)
  --tls-cert FILE       With --tls-key: a client certificate for mutual TLS
                        (default: $TAALA_TLS_CERT)
  --tls-key FILE        Its PEM private key (default: $TAALA_TLS_KEY)
  --auth-token T        A bearer token (taalad --auth_tokens_file), sent with
                        every call (default: $TAALA_TOKEN; the environment
                        keeps it out of `ps`)
  --wait D              lock: how long to wait for KEY (default inf; 0 = try
                        once)
  --ttl D               lock: session lease, renewed in the background
                        (default 10s)
  --shared              lock: take KEY in SHARED mode (a reader): any number
                        of --shared runs hold it together, never with an
                        exclusive holder
  --semaphore N         lock: KEY is a semaphore of N slots: up to N runs hold
                        it at once (every user of KEY must give the same N)
  --limit N             list: at most N keys (default 0 = all); contention,
                        leaks, deadlocks: at most N entries (default: the
                        server's)
  --held-longer-than D  list: only keys held longer than D; leaks: the age
                        threshold (default: taalad's --leak_threshold)
  --contended           list: only keys with waiters
  --p99-factor F        leaks: suspect a grant held F times its key's p99 hold
                        (default: taalad's --leak_p99_factor)
  --prefix              stats: the argument is a prefix
  --key KEY             watch: one key instead of a prefix
  --after LSN           watch: resume after LSN (no snapshot)
  --count N             watch: exit after N events
  --reason R            force-release, revoke: why (required; the holder and
                        the daemon's log and audit trail get it)
  --skip-lock-delay     force-release, revoke: no lock-delay, even if the
                        grant asked for one
  --session ID          force-release: only this session's grant; release:
                        the holder's session
  --token T             force-release: only if the grant has this fencing
                        token; release: the grant's token
  --admin HOST:PORT     health: ask the admin listener over plain HTTP
                        instead of the gRPC health service
  --ready               health: with --admin, /readyz instead of /healthz
Durations: 500ms, 10s, 2m, 1h30m, inf.

Exit status: 0 success; 1 error; 64 usage error; 69 server unavailable;
75 lock not acquired within --wait; lock: COMMAND's status (128+N if it was
killed by signal N; 126/127 if it could not be run); health: 69 unless
SERVING.
)";
}

const char* CommandUsageText(const std::string& command) {
  if (command == "lock") {
    return R"(Usage: taalactl lock [--wait D] [--ttl D] [--shared | --semaphore N]
                     KEY [--] COMMAND [ARGS...]

Take KEY, run COMMAND with TAALA_KEY and TAALA_FENCING_TOKEN in its
environment while keeping the session alive, release KEY when COMMAND exits,
and exit with its status. If KEY is not acquired within --wait, COMMAND is not
run, the holder is named on stderr, and the exit status is 75.

  --wait D         how long to wait for KEY (default inf; 0 = try once)
  --ttl D          session lease, renewed in the background (default 10s)
  --shared         take KEY in SHARED mode (readers hold it together)
  --semaphore N    KEY is a semaphore of N slots

Exit status: COMMAND's (128+N if killed by signal N; 126 cannot run, 127 not
found); 75 not acquired; 69 server unavailable; 64 usage error; 1 error.
)";
  }
  if (command == "describe") {
    return R"(Usage: taalactl describe KEY

Holders of KEY (session, client, labels such as host and pid, token, mode,
held for), its waiters in queue order, and the holders of keys above it
(ancestors) or below it in the key tree that keep it from being granted.
--json prints the DescribeLockResponse.

Exit status: 0; 69 server unavailable; 64 usage error; 1 error.
)";
  }
  if (command == "list") {
    return R"(Usage: taalactl list [--held-longer-than D] [--contended] [--limit N] [PREFIX]

Held keys starting with PREFIX (all keys if none), sorted by key, with their
holders and queue lengths.

  --held-longer-than D  only keys whose oldest grant is older than D
  --contended           only keys with at least one waiter
  --limit N             at most N keys (default 0 = all)

--json prints one ListLocksResponse with every page's locks; next_page_token
is set when --limit cut the listing short.
Exit status: 0; 69 server unavailable; 64 usage error; 1 error.
)";
  }
  if (command == "sessions") {
    return R"(Usage: taalactl sessions

Live sessions: id, client name, lease, time left, held and awaited keys,
labels. --json prints one ListSessionsResponse with every page's sessions.
Exit status: 0; 69 server unavailable; 64 usage error; 1 error.
)";
  }
  if (command == "deadlocks") {
    return R"(Usage: taalactl deadlocks [--limit N]

The wait-for graph now (who waits for whom, on which key), how many acquires
were refused as deadlocks since the daemon started, and the most recent
refusals (at most N, newest first) with the cycle each would have closed.
--json prints {"wait_for_graph": GetWaitForGraphResponse,
"recent": GetRecentDeadlocksResponse}.
Exit status: 0; 69 server unavailable; 64 usage error; 1 error.
)";
  }
  if (command == "health") {
    return R"(Usage: taalactl health
       taalactl health --admin HOST:PORT [--ready]

The server's serving status, durability, recovery and log counts.
--json prints {"endpoint", "status", "server": ServerStatus}.

With --admin: one plain HTTP GET of /healthz (with --ready: /readyz) on
taalad's admin listener (--admin_listen, port 7071 by default), printing the
answer's body; no gRPC, no credentials (both paths are always open). The
container image's HEALTHCHECK runs `taalactl health --admin=127.0.0.1:7071`.

  --admin HOST:PORT   the admin listener ([IPV6]:PORT for IPv6; the port is
                      required)
  --ready             /readyz (200 once recovery is over) instead of /healthz
                      (200 while the process serves)

Exit status: 0 when SERVING (--admin: HTTP 200); 69 otherwise or
unreachable; 64 usage error; 1 error.
)";
  }
  if (command == "leaks") {
    return R"(Usage: taalactl leaks [--held-longer-than D] [--p99-factor F] [--limit N]

Grants that look leaked, oldest first: held longer than D, or longer than F
times their key's own p99 hold (keys with at least 20 hold samples), with
the holder's session, client name, labels (host, pid) and age.

  --held-longer-than D  age threshold (default: taalad's --leak_threshold)
  --p99-factor F        factor of the key's p99 hold (default: taalad's
                        --leak_p99_factor)
  --limit N             at most N suspects (default 100)

--json prints the GetLeakSuspectsResponse.
Exit status: 0 (with or without suspects); 69 server unavailable; 64 usage
error; 1 error (also: a taalad without statistics).
)";
  }
  if (command == "contention") {
    return R"(Usage: taalactl contention [--limit N]

The most contended keys: by current queue length (with holders and the
longest current wait), and by total time waited over the recent window.

  --limit N   at most N keys in each list (default 10, at most 100)

--json prints the GetContentionResponse.
Exit status: 0; 69 server unavailable; 64 usage error; 1 error.
)";
  }
  if (command == "stats") {
    return R"(Usage: taalactl stats [--prefix] [KEY | PREFIX/]

Statistics of one key, of a prefix (an argument ending in '/', or any
argument with --prefix), or of every key (no argument): acquires by outcome,
wait and hold p50/p95/p99/max, revocations, expiries, deadlock refusals, and
the suggested max hold and wait timeout with their sample counts and source
(or why there is none), beside the lock policy in force (taalad
--policy_file: the longest policy prefix of the key or prefix) and whether
the suggestion differs from it.

--json prints the GetLockStatsResponse.
Exit status: 0; 69 server unavailable; 64 usage error; 1 error.
)";
  }
  if (command == "policies") {
    return R"(Usage: taalactl policies

The lock policies in force in taalad (--policy_file, docs/policies.md),
sorted by prefix: default max hold, lock-delay, wait timeout and semaphore
size for acquires that leave them unset, each with its line in the file;
the file, when it was loaded and how many loads succeeded; and the last
refused reload, naming the line, if the latest load failed.

--json prints the GetPoliciesResponse.
Exit status: 0; 69 server unavailable; 64 usage error; 1 error.
)";
  }
  if (command == "force-release") {
    return R"(Usage: taalactl force-release KEY --reason R [--skip-lock-delay]
                              [--session ID] [--token T]

Take KEY away from its holder(s) through taalad's AdminService: each holder
gets GRANT_REVOKED with "force-released by <caller>: R" on its session's
stream, the key's lock-delay starts (unless --skip-lock-delay) and the next
waiter is granted with a higher fencing token. The action is logged at
warning and written to the daemon's log with R and the caller
(your address, and $USER@hostname as requested_by).

  --reason R          why (required, at most 1024 bytes)
  --skip-lock-delay   hand KEY over at once, even if the grant asked for a
                      lock-delay
  --session ID        only this session's grant (one holder of a SHARED key
                      or a semaphore); default: every holder
  --token T           only if the grant's fencing token is T

Prints the grants taken (key, session, token, mode, held for); --json prints
the ForceReleaseResponse.
Exit status: 0; 1 error (NOT_FOUND: KEY is not held, or not by --session;
FAILED_PRECONDITION: the grant's token is not T; INVALID_ARGUMENT); 69 server
unavailable; 64 usage error.
)";
  }
  if (command == "revoke") {
    return R"(Usage: taalactl revoke SESSION --reason R [--skip-lock-delay]

End SESSION as if its lease ran out, through taalad's AdminService: it gets
SESSION_EXPIRED with "revoked by <caller>: R", every grant it holds goes to
the next waiter (after the grant's lock-delay, unless --skip-lock-delay),
every wait it has is cancelled, and its client must start a new session.
Logged at warning and written to the daemon's log with R and the caller.

Prints the grants released and the waits cancelled; --json prints the
RevokeSessionResponse.
Exit status: 0; 1 error (NOT_FOUND: no such live session; INVALID_ARGUMENT);
69 server unavailable; 64 usage error.
)";
  }
  if (command == "release") {
    return R"(Usage: taalactl release KEY --session ID --token T

Release KEY on behalf of session ID (LockService.Release), as its holder
would: for a holder whose process is gone while its session lives on (a
taalactl describe shows the session and the token). No lock-delay starts.

--json prints the ReleaseResponse.
Exit status: 0; 1 error (FAILED_PRECONDITION: the session does not hold KEY
with token T; NOT_FOUND: no such session); 69 server unavailable; 64 usage
error.
)";
  }
  if (command == "hash-token") {
    return R"(Usage: taalactl hash-token IDENTITY < TOKEN

Reads a bearer token from stdin (its first line, without the line end) and
prints the line that lists it in taalad --auth_tokens_file:
"IDENTITY sha256:HEX", HEX the token's SHA-256. The file never holds the
token itself. Contacts no server.
)";
  }
  if (command == "watch") {
    return R"(Usage: taalactl watch [--key KEY] [--after LSN] [--count N] [PREFIX]

The keys in use under PREFIX (a plain byte prefix; every key if none; or one
key with --key) as a table of holders, waiters and lock-delays as of one LSN,
then one line per event as it happens: LSN (~N: a live-only event after LSN
N), time, event (GRANTED, RELEASED, EXPIRED, REVOKED, UNDONE, RESTORED,
LOCK_DELAY_STARTED/ENDED, WAITING, WAIT_ENDED, DEADLOCK_REFUSED), key,
session (client), token, and the mode or reason.

If the daemon restarts or ends the watch as too slow, it reconnects (with
backoff) and resumes after the last LSN it printed; if that is no longer
retained it says so on stderr and starts over with a snapshot.

  --key KEY    watch one key instead of a prefix
  --after LSN  resume after LSN (no snapshot); 0 = start with a snapshot
  --count N    exit after N events (0 = never)

--json prints each WatchResponse (snapshot part or event) as one line.
Exit status: 0 (SIGINT, SIGTERM or --count); 69 server unavailable at the
start; 64 usage error; 1 error.
)";
  }
  return nullptr;
}

}  // namespace taala::tools
