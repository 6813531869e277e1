// File: client/lock_client.h
// -----------------------------------------------------------------------------
// The C++ client library for taala. Applications use three types:
//
//   taala::Client   a connection to taalad (one or more endpoints), with
//                   per-call deadlines, retries with backoff and jitter, a
//                   circuit breaker, and failover across endpoints.
//   taala::Session  a lease kept alive in the background; it says when it is
//                   lost (callback and a cheap `lost()` check) and closes
//                   itself on destruction, releasing every lock it holds.
//   taala::Lock     one key, meeting the standard Lockable and TimedLockable
//                   requirements, so std::unique_lock and std::scoped_lock
//                   work, with `fencing_token()`.
//
//   auto client = taala::Client::Connect().value();
//   taala::SessionOptions options;
//   options.client_name = "recon";
//   auto session = client->CreateSession(options).value();
//   taala::Lock lock(*session, "payments/recon");
//   {
//     std::unique_lock<taala::Lock> guard(lock);   // released on any exit,
//     Write(resource, lock.fencing_token());       // exceptions included
//   }
//
// Errors are absl::Status wherever a call returns one. The Lockable members
// (`lock`, `try_lock`, `try_lock_for`, `try_lock_until`) have no other way
// to report a failure than an exception: they throw taala::LockError (which
// carries the absl::Status) when the server refuses or cannot be reached;
// `try_lock*` return false only for "the key stayed held". `unlock` never
// throws (see Lock::unlock).
//
// This header does not include gRPC.
//
// Thread safety: Client is thread-safe. Session is thread-safe. A Lock is
// used by one thread at a time (like std::mutex's owner).
// Lifetimes: a Client must outlive its Sessions, a Session its Locks.

#ifndef TAALA_CLIENT_LOCK_CLIENT_H_
#define TAALA_CLIENT_LOCK_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace taala {

struct RetryPolicy {
  // Attempts per call, the first included. Only calls that got no answer
  // from a working taalad are retried: UNAVAILABLE (server down or
  // unreachable, or shutting down), and CANCELLED by gRPC as taalad's server
  // shuts down (never taalad's own CANCELLED answers); every taala call is
  // safe to retry. When the attempts are used up such a call fails with
  // UNAVAILABLE.
  // An Acquire that waits (wait > 0) is retried past this, with this
  // backoff, while its wait and its session last (see docs/client.md).
  int max_attempts = 4;
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  double multiplier = 2.0;
  // Each backoff is scaled by a random factor in [1 - jitter, 1 + jitter].
  double jitter = 0.2;
};

struct CircuitBreakerOptions {
  // Consecutive failed attempts (UNAVAILABLE, or no answer within the
  // deadline) that open the circuit. While open, calls fail fast with
  // UNAVAILABLE; after `open_for` one probe call is let through: success
  // closes the circuit, failure opens it again.
  int failure_threshold = 5;
  absl::Duration open_for = absl::Seconds(1);
};

enum class CircuitState { kClosed, kOpen, kHalfOpen };

// TLS to taalad (taalad --tls_cert; docs/security.md). Each PEM may be given
// as text or as a file that Client::Connect reads (a file and the text of
// the same thing: INVALID_ARGUMENT). Setting any of them turns TLS on.
struct TlsOptions {
  bool enabled = false;  // taalad serves plaintext on loopback by default.
  // CA certificates the server's certificate must chain to; empty: the
  // system's roots.
  std::string root_certs_pem;
  std::string root_certs_file;
  // The client certificate and its key, both or neither (mutual TLS,
  // taalad --tls_client_ca): its subject CN is the caller's identity.
  std::string cert_chain_pem;
  std::string cert_chain_file;
  std::string private_key_pem;
  std::string private_key_file;
};

struct ClientOptions {
  // Tried in order; a call that finds one unavailable moves to the next.
  // All endpoints must serve the same lock state (replicas of one service):
  // a session is known only to the servers that share its state.
  // Empty (the default): $TAALA_ENDPOINT if set and not empty, else
  // "127.0.0.1:7070", as taalactl does. An endpoint without a port ("db1")
  // or with an empty one ("db1:") dials port 7070; a port outside 1..65535
  // is refused (common/endpoint.h). Client::options() shows the endpoints
  // chosen.
  std::vector<std::string> endpoints;
  TlsOptions tls;
  // A bearer token (taalad --auth_tokens_file), sent as `authorization:
  // Bearer <token>` metadata with every call, KeepAlive streams included.
  // Empty: none. Printable ASCII only. Send it over TLS unless taalad is on
  // this host: anyone who sees it can use it.
  std::string bearer_token;
  // Deadline of one attempt of a call that does not wait for a lock. An
  // Acquire that waits gets its wait plus this.
  absl::Duration call_timeout = absl::Seconds(5);
  RetryPolicy retry;
  CircuitBreakerOptions circuit_breaker;
};

struct SessionOptions {
  absl::Duration ttl = absl::Seconds(10);
  std::string client_name;
  std::map<std::string, std::string> labels;
  // Called once, on one of the session's background threads, when the
  // session is lost: the server said it expired or does not know it
  // (NOT_FOUND to the keepalive or to any call of the session; lost() is
  // true from that answer on), or no keepalive was confirmed for a whole
  // TTL. Must not block for long, and must not destroy
  // the Session (Close() from here returns FAILED_PRECONDITION).
  std::function<void(const absl::Status&)> on_lost;
  // Called on the session's event thread when the server revokes a grant
  // (max hold time reached). Events are handed up one at a time, in order,
  // each once; a slow handler delays later events but not keepalives. Must
  // not destroy the Session.
  std::function<void(const std::string& key, uint64_t fencing_token,
                     const std::string& reason)>
      on_revoked;
  // Called on the session's event thread when another session waits for a
  // key this session holds and asks for it (cooperative release); once per
  // grant until handled. Same rules as on_revoked.
  std::function<void(const std::string& key, uint64_t fencing_token,
                     uint64_t requester_session_id,
                     const std::string& requester_client_name)>
      on_release_requested;
};

// One grant, as the server made it.
struct LockGrant {
  std::string key;
  uint64_t session_id = 0;
  uint64_t fencing_token = 0;
};

struct AcquireOptions {
  // Zero: try-lock. absl::InfiniteDuration(): wait until granted. Always
  // sent: a lock policy's wait timeout (docs/policies.md) never shortens it.
  absl::Duration wait = absl::InfiniteDuration();
  // The server revokes the grant after this long. Zero: the key's lock
  // policy's max hold (taalad --policy_file), else no limit.
  // absl::InfiniteDuration(): no limit, whatever the policy says. Sent in
  // whole milliseconds, rounded up; negative: INVALID_ARGUMENT.
  absl::Duration max_hold = absl::ZeroDuration();
  // SHARED mode (a reader of a reader/writer lock): any number of SHARED
  // holders at once, never together with an EXCLUSIVE one. False: EXCLUSIVE.
  // A session that holds a key SHARED and asks again with shared = false
  // upgrades (see docs/api.md); a second upgrader of the key gets ABORTED.
  bool shared = false;
  // > 0: the key is a semaphore admitting up to this many holders at once
  // (`shared` is ignored). Every acquirer of the key must use the same size
  // while it is in use, or gets FAILED_PRECONDITION. 0: the key's lock
  // policy's semaphore size, else a lock.
  uint32_t semaphore_size = 0;
  // > 0: if this grant ends because the session expired or the grant was
  // revoked (not by a release or Close), the server grants the key to
  // nobody for this long. Must be finite and not negative (sent in whole
  // milliseconds, rounded up). 0: the key's lock policy's lock-delay, else
  // none.
  absl::Duration lock_delay = absl::ZeroDuration();
  // If the key is not granted at once, the server asks its holders to release
  // it (a RELEASE_REQUESTED event on their KeepAlive streams).
  bool request_release = false;
};

class Session;

class Client {
 public:
  // Creates channels to every endpoint (ClientOptions::endpoints, else
  // $TAALA_ENDPOINT, else 127.0.0.1:7070). Does not contact the server.
  // INVALID_ARGUMENT: an empty endpoint, a port outside 1..65535 (in
  // $TAALA_ENDPOINT: the message names it), or a bad option.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(
      ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Opens a session and starts its keepalive thread.
  absl::StatusOr<std::unique_ptr<Session>> CreateSession(
      SessionOptions options = {});

  // OK if an endpoint answers the standard health check with SERVING.
  absl::Status CheckHealth();

  CircuitState circuit_state() const;
  const ClientOptions& options() const;

  class Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Session {
 public:
  // Close(), ignoring its status. Lock calls still running on other threads
  // (waiting for a key) then fail with NOT_FOUND; the destructor waits for
  // them to return.
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  uint64_t id() const;
  absl::Duration ttl() const;  // As granted by the server.

  // True once the session is lost (see SessionOptions::on_lost) or closed.
  // Cheap: an atomic load.
  bool lost() const;
  // Why it was lost; OK while it is not.
  absl::Status lost_status() const;

  // Takes `key`. Returns the grant, or std::nullopt if the key stayed held
  // for the whole wait. Retrying is safe: the server answers a session's
  // repeated Acquire with the same grant. FAILED_PRECONDITION if a Lock of
  // this session holds or takes `key` (its grant is not shared).
  absl::StatusOr<std::optional<LockGrant>> Acquire(
      absl::string_view key, AcquireOptions options = {});
  // Releases a grant of this session.
  absl::Status Release(const LockGrant& grant);
  // True if the server revoked this grant (SessionOptions::on_revoked).
  bool Revoked(const LockGrant& grant) const;

  // Stops the keepalive and closes the session on the server, releasing
  // every lock it holds. Idempotent.
  absl::Status Close();

  class Impl;

 private:
  friend class Client;
  friend class Lock;
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Thrown by the Lockable members of Lock when the server refuses or cannot
// be reached.
class LockError : public std::runtime_error {
 public:
  explicit LockError(absl::Status status);
  const absl::Status& status() const { return status_; }

 private:
  absl::Status status_;
};

// A named lock for use with std::unique_lock / std::scoped_lock.
//
// Several Locks on one key in one Session exclude each other as Locks of
// different processes do: while one holds the key or is taking it, another
// one's try_lock() returns false and lock() / try_lock_for() wait in the
// process (they do not ask the server) until it unlocks, or time out. Only
// SHARED Locks (options.shared, no semaphore) share: a SHARED Lock joins the
// grant another SHARED Lock of the session holds (same fencing token), unless
// a Lock already waits for the key, and the grant is released on the server
// when the last of them unlocks. A semaphore key gives a session one slot, so
// its Locks of one session take it one at a time. A revoked grant frees the
// key for the session's other Locks at once. If the server answers that the
// session already holds a key no Lock of it took (Session::Acquire did), the
// Lock fails with FAILED_PRECONDITION rather than share that grant; a Lock
// retrying a call whose answer was lost takes the grant it may have got.
class Lock {
 public:
  // `session` must outlive the Lock.
  Lock(Session& session, std::string key, AcquireOptions options = {});
  ~Lock();  // Releases the lock if held.
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  // Lockable / TimedLockable. Throw LockError on errors (see the header
  // comment). lock() waits `options.wait` (default: until granted) and
  // throws LockError(DEADLINE_EXCEEDED) if that runs out.
  // REQUIRES: the lock is not held by this object.
  void lock();
  bool try_lock();
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return TryLockFor(absl::FromChrono(
        std::chrono::duration_cast<std::chrono::nanoseconds>(d)));
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& t) {
    return try_lock_for(t - Clock::now());
  }
  // Releases the lock. Never throws: if the server cannot be told, the
  // session's end (close or expiry) releases it; the failure is kept in
  // last_unlock_status().
  void unlock();

  // Status-returning forms. Acquire: OK when held, DEADLINE_EXCEEDED when
  // the key stayed held for all of `wait`, any other code as the server said.
  absl::Status Acquire(absl::Duration wait);
  absl::Status Release();

  const std::string& key() const { return key_; }
  // The grant's fencing token; 0 when not held.
  uint64_t fencing_token() const;
  // True while this object holds the lock and neither the session was lost
  // nor the grant revoked.
  bool owns_lock() const;
  absl::Status last_unlock_status() const { return last_unlock_status_; }

 private:
  bool TryLockFor(absl::Duration wait);

  Session& session_;
  const std::string key_;
  const AcquireOptions options_;
  std::optional<LockGrant> grant_;
  absl::Status last_unlock_status_;
};

}  // namespace taala

#endif  // TAALA_CLIENT_LOCK_CLIENT_H_
