#ifndef TAALA_SERVER_ADMIN_ADMIN_SERVER_H_
#define TAALA_SERVER_ADMIN_ADMIN_SERVER_H_

// taalad's HTTP admin listener (--admin_listen), on cpp-httplib, read-only:
// GET (and HEAD) only, anything else 405. Every answer comes from the
// daemon's own LockService through a gRPC channel (taalad passes the
// server's in-process channel), so HTTP shows exactly what gRPC shows.
//
//   /            the dashboard (dashboard.h)
//   /metrics     Prometheus text exposition (prometheus.h)
//   /healthz     the health score as JSON (health.h); always 200
//   /readyz      200 "ready" while the LockService answers; 503 otherwise
//   /api/v1/...  the response messages as proto3 JSON (routes.h)
//
// With auth configured, all but the probes need a bearer token
// (http_auth.h).
//
// docs/observability.md describes every endpoint.
// Thread safety: a pool of threads serves the connections, one each, and
// each connection has a time budget (deadline_server.h), so a few slow or
// idle clients cannot keep the probes unanswered; the methods may be
// called from any thread.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/auth/auth_config.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace taala::admin {

class AdminServer {
 public:
  struct Options {
    // An address to bind (an IP literal without brackets, or a name); port
    // 0 picks a free one.
    std::string host = "127.0.0.1";
    int port = 0;
    std::shared_ptr<grpc::Channel> channel;
    absl::Duration call_deadline = absl::Seconds(5);
    // Connections served at once; more wait in a queue, in order.
    int threads = 16;
    // A connection is closed unanswered if its request has not been read
    // within `request_deadline` of a thread taking it, or its answer not
    // written within `response_deadline` of its first byte.
    absl::Duration request_deadline = absl::Seconds(3);
    absl::Duration response_deadline = absl::Seconds(5);
    // Who may read it (http_auth.h); null: everyone, as without auth
    // flags. Must outlive the server.
    const auth::AuthState* auth = nullptr;
  };

  // Binds and starts serving. Unavailable if the address cannot be bound
  // (the caller names the reason: server/listen_address.h).
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(Options options);
  ~AdminServer();  // Stops serving and joins the threads.

  int port() const;
  // The daemon is stopping: from now on /readyz answers 503 and no page
  // calls the LockService any more (their sources read as UNAVAILABLE);
  // returns once the calls under way have finished. Call it before the
  // gRPC server shuts down, which must not be given a new in-process call.
  // The listener keeps serving until destroyed.
  void Drain();

 private:
  struct Impl;
  explicit AdminServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace taala::admin

#endif  // TAALA_SERVER_ADMIN_ADMIN_SERVER_H_
