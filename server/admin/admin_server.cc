#include "server/admin/admin_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/admin/dashboard.h"
#include "server/admin/deadline_server.h"
#include "server/admin/health.h"
#include "server/admin/http_auth.h"
#include "server/admin/lock_service_calls.h"
#include "server/admin/prometheus.h"
#include "server/admin/query_params.h"
#include "server/admin/routes.h"

namespace taala::admin {

struct AdminServer::Impl {
  explicit Impl(const Options& options)
      : calls(options.channel, options.call_deadline),
        auth(options.auth),
        http({options.request_deadline, options.response_deadline}) {}

  // Calls `method` with a default request; the response or the error.
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Ask(absl::Status (LockServiceCalls::*method)(
                               const Req&, Resp*),
                           const Req& req = Req()) {
    Resp resp;
    absl::Status s = (calls.*method)(req, &resp);
    if (!s.ok()) return s;
    return resp;
  }

  v1::Health Health();
  void Metrics(httplib::Response& res);
  void Ready(httplib::Response& res);
  void AddRoutes();

  LockServiceCalls calls;
  const auth::AuthState* const auth;
  FsyncWindow fsync_window;
  std::atomic<bool> draining{false};
  std::atomic<bool> loop_ended{false};
  int port = 0;
  DeadlineServer http;
  std::thread thread;
};

v1::Health AdminServer::Impl::Health() {
  HealthInputs in;
  in.now = absl::Now();
  in.leaks = Ask(&LockServiceCalls::GetLeakSuspects);
  v1::GetRecentDeadlocksRequest deadlocks;
  deadlocks.set_limit(100);  // All that are kept.
  in.deadlocks = Ask(&LockServiceCalls::GetRecentDeadlocks, deadlocks);
  absl::StatusOr<v1::GetMetricsResponse> metrics =
      Ask(&LockServiceCalls::GetMetrics);
  if (metrics.ok()) {
    in.fsync = fsync_window.Window(metrics->metrics().wal_fsync_seconds(),
                                   in.now, &in.fsync_window);
  } else {
    in.fsync = metrics.status();
  }
  absl::StatusOr<v1::GetServerStatusResponse> status =
      Ask(&LockServiceCalls::GetServerStatus);
  if (status.ok()) {
    in.status = status->status();
  } else {
    in.status = status.status();
  }
  return ComputeHealth(in);
}

void AdminServer::Impl::Metrics(httplib::Response& res) {
  absl::StatusOr<v1::GetMetricsResponse> metrics =
      Ask(&LockServiceCalls::GetMetrics);
  absl::StatusOr<v1::GetServerStatusResponse> status =
      Ask(&LockServiceCalls::GetServerStatus);
  absl::StatusOr<v1::Metrics> m = absl::UnknownError("");
  if (metrics.ok()) {
    m = metrics->metrics();
  } else {
    m = metrics.status();
  }
  absl::StatusOr<v1::ServerStatus> st = absl::UnknownError("");
  if (status.ok()) {
    st = status->status();
  } else {
    st = status.status();
  }
  // The current leak suspects (a scan of the held grants, as
  // /api/v1/leaks), counted up to the largest page.
  v1::GetLeakSuspectsRequest leak_request;
  leak_request.set_limit(1000);
  absl::StatusOr<v1::GetLeakSuspectsResponse> leaks =
      Ask(&LockServiceCalls::GetLeakSuspects, leak_request);
  // Both unreadable: the daemon is not serving (stopping); say so to the
  // scraper rather than report an empty page as a success.
  res.status = metrics.ok() || status.ok() ? 200 : 503;
  res.set_content(RenderPrometheus(m, st, leaks),
                  "text/plain; version=0.0.4; charset=utf-8");
}

void AdminServer::Impl::Ready(httplib::Response& res) {
  const auto reply = [&res](int code, const std::string& text) {
    res.status = code;
    res.set_content(text + "\n", "text/plain; charset=utf-8");
  };
  if (draining.load()) return reply(503, "not ready: shutting down");
  // Recovery is over before the listener starts; the LockService answering
  // through the server shows the gRPC server serves.
  absl::StatusOr<v1::GetServerStatusResponse> status =
      Ask(&LockServiceCalls::GetServerStatus);
  if (!status.ok()) {
    return reply(503, absl::StrCat("not ready: GetServerStatus: ",
                                   status.status().ToString()));
  }
  // A refusal window is reported, never a reason to be unready: clients
  // must reach the daemon to renew their sessions through it.
  const int64_t refused = status->status().grants_refused_for_ms();
  reply(200, refused > 0
                 ? absl::StrCat("ready\ngrants refused for ",
                                absl::FormatDuration(
                                    absl::Milliseconds(refused)),
                                " more (restart window after an unclean "
                                "stop); sessions renew meanwhile")
                 : std::string("ready"));
}

void AdminServer::Impl::AddRoutes() {
  // Read-only: no action over HTTP. HEAD is GET without the body. With
  // auth configured, the caller's token first (http_auth.h).
  http.set_pre_routing_handler([this](const httplib::Request& req,
                                      httplib::Response& res) {
    if (req.method == "GET" || req.method == "HEAD") {
      if (IsProbePath(req.path)) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      absl::Status allowed =
          CheckHttpCaller(auth, req.get_header_value("Authorization"),
                          PermissionForPath(req.path));
      if (allowed.ok()) return httplib::Server::HandlerResponse::Unhandled;
      if (allowed.code() == absl::StatusCode::kUnauthenticated) {
        res.set_header("WWW-Authenticate", "Bearer realm=\"taalad\"");
      }
      ReplyError(allowed, &res);
      return httplib::Server::HandlerResponse::Handled;
    }
    res.status = 405;
    res.set_header("Allow", "GET, HEAD");
    res.set_content("method not allowed: the admin listener is read-only "
                    "(GET only)\n",
                    "text/plain; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  });
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    res.set_content(res.status == 404
                        ? absl::StrCat("not found: ", req.path,
                                       " (see docs/observability.md)\n")
                        : absl::StrCat("HTTP ", res.status, "\n"),
                    "text/plain; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  }));
  // Queries on a page that takes none are refused like on the JSON
  // endpoints, so a typo does not pass silently.
  const auto no_params = [](const httplib::Request& req,
                            httplib::Response& res) {
    absl::StatusOr<QueryParams> q = QueryParams::Parse(req.target, {});
    if (!q.ok()) ReplyError(q.status(), &res);
    return q.ok();
  };
  http.Get("/", [no_params](const httplib::Request& req,
                            httplib::Response& res) {
    if (!no_params(req, res)) return;
    res.set_header("Cache-Control", "no-store");
    res.set_content(DashboardHtml(), "text/html; charset=utf-8");
  });
  http.Get("/metrics", [this, no_params](const httplib::Request& req,
                                         httplib::Response& res) {
    if (no_params(req, res)) Metrics(res);
  });
  http.Get("/healthz", [this, no_params](const httplib::Request& req,
                                         httplib::Response& res) {
    // Always 200 while the process serves: the body carries the score.
    if (no_params(req, res)) ReplyJson(Health(), &res);
  });
  http.Get("/readyz", [this, no_params](const httplib::Request& req,
                                        httplib::Response& res) {
    if (no_params(req, res)) Ready(res);
  });
  AddJsonEndpoints(&http, &calls, [this] { return Health(); });
}

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(
    Options options) {
  auto impl = std::make_unique<Impl>(options);
  Impl& i = *impl;
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a
  // second daemon would bind the same port and share its requests.
  i.http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  const int threads = options.threads;
  i.http.UseThreads(threads);
  // One request a connection (DeadlineServer): an idle browser connection
  // never holds a thread. A GET has no body: refuse a long one unread.
  i.http.set_payload_max_length(64 * 1024);
  i.AddRoutes();
  if (options.port == 0) {
    i.port = i.http.bind_to_any_port(options.host);
  } else if (i.http.bind_to_port(options.host, options.port)) {
    i.port = options.port;
  }
  if (i.port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot bind ", options.host, ":", options.port));
  }
  i.thread = std::thread([&i] {
    i.http.listen_after_bind();
    i.loop_ended.store(true);
  });
  // stop() only works once the loop runs: wait for it.
  while (!i.http.is_running()) {
    if (i.loop_ended.load()) {
      i.thread.join();
      return absl::UnavailableError(absl::StrCat(
          "cannot listen on ", options.host, ":", i.port));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

AdminServer::~AdminServer() {
  impl_->http.stop();
  impl_->thread.join();
}

int AdminServer::port() const { return impl_->port; }

void AdminServer::Drain() {
  impl_->draining.store(true);
  impl_->calls.Close();
}

}  // namespace taala::admin
