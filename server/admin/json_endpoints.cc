// The admin listener's JSON endpoints: each parses its query parameters
// into the request message, calls the LockService and prints the response
// message's proto3 JSON.

#include <httplib.h>

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/admin/lock_service_calls.h"
#include "server/admin/query_params.h"
#include "server/admin/routes.h"

namespace taala::admin {
namespace {

constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
constexpr uint32_t kMaxUint32 = std::numeric_limits<uint32_t>::max();

template <typename Req>
using Fill = std::function<absl::Status(const QueryParams&, Req*)>;

// GET `path`: the query (only `allowed` names) fills a Req, `call` answers.
template <typename Req, typename Resp>
void Add(httplib::Server* server, const char* path,
         std::vector<absl::string_view> allowed, Fill<Req> fill,
         absl::Status (LockServiceCalls::*call)(const Req&, Resp*),
         LockServiceCalls* calls) {
  server->Get(path, [=](const httplib::Request& http_req,
                        httplib::Response& res) {
    absl::StatusOr<QueryParams> q = QueryParams::Parse(http_req.target,
                                                       allowed);
    Req req;
    absl::Status s = q.status();
    if (s.ok() && fill) s = fill(*q, &req);
    if (s.ok()) {
      Resp resp;
      s = (calls->*call)(req, &resp);
      if (s.ok()) return ReplyJson(resp, &res);
    }
    ReplyError(s, &res);
  });
}

absl::Status FillLocks(const QueryParams& q, v1::ListLocksRequest* r) {
  q.String("prefix", r->mutable_prefix());
  q.String("page_token", r->mutable_page_token());
  int64_t held = 0;
  bool contended = false;
  uint32_t page_size = 0;
  absl::Status s = q.Int64("held_longer_than_ms", 0, kMaxInt64, &held);
  if (s.ok()) s = q.Bool("contended_only", &contended);
  if (s.ok()) s = q.Uint32("page_size", kMaxUint32, &page_size);
  r->set_held_longer_than_ms(held);
  r->set_contended_only(contended);
  r->set_page_size(page_size);
  return s;
}

absl::Status FillDescribe(const QueryParams& q, v1::DescribeLockRequest* r) {
  if (!q.Has("key")) {
    return absl::InvalidArgumentError("query parameter \"key\" is required");
  }
  q.String("key", r->mutable_key());
  uint32_t max_waiters = 0;
  absl::Status s = q.Uint32("max_waiters", kMaxUint32, &max_waiters);
  r->set_max_waiters(max_waiters);
  return s;
}

absl::Status FillSessions(const QueryParams& q, v1::ListSessionsRequest* r) {
  q.String("page_token", r->mutable_page_token());
  uint32_t page_size = 0;
  absl::Status s = q.Uint32("page_size", kMaxUint32, &page_size);
  r->set_page_size(page_size);
  return s;
}

absl::Status FillLeaks(const QueryParams& q, v1::GetLeakSuspectsRequest* r) {
  int64_t held = 0;
  double factor = 0;
  uint32_t limit = 0;
  absl::Status s = q.Int64("held_longer_than_ms", 0, kMaxInt64, &held);
  if (s.ok()) s = q.Double("p99_factor", 0, 1e9, &factor);
  if (s.ok()) s = q.Uint32("limit", kMaxUint32, &limit);
  r->set_held_longer_than_ms(held);
  r->set_p99_factor(factor);
  r->set_limit(limit);
  return s;
}

absl::Status FillStats(const QueryParams& q, v1::GetLockStatsRequest* r) {
  q.String("key", r->mutable_key());
  q.String("prefix", r->mutable_prefix());
  return absl::OkStatus();
}

}  // namespace

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  // The proto's own field names, as taalactl --json prints them
  // (tools/proto_json.cc): one schema for scripts, whichever they use.
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  // protobuf's own status type in 3.21, absl::Status later: auto.
  const auto s =
      google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!s.ok()) return "{}\n";  // Only for a message that is not well formed.
  out += '\n';
  return out;
}

void ReplyJson(const google::protobuf::Message& message,
               httplib::Response* res) {
  res->status = 200;
  res->set_content(ToJson(message), "application/json");
}

void ReplyError(const absl::Status& status, httplib::Response* res) {
  google::protobuf::Struct body;
  auto& fields = *body.mutable_fields();
  fields["code"].set_number_value(static_cast<int>(status.code()));
  fields["status"].set_string_value(absl::StatusCodeToString(status.code()));
  fields["message"].set_string_value(std::string(status.message()));
  res->status = HttpStatusFor(status.code());
  res->set_content(ToJson(body), "application/json");
}

void AddJsonEndpoints(httplib::Server* server, LockServiceCalls* calls,
                      std::function<v1::Health()> health) {
  using C = LockServiceCalls;
  Add<v1::GetServerStatusRequest, v1::GetServerStatusResponse>(
      server, "/api/v1/status", {}, nullptr, &C::GetServerStatus, calls);
  Add<v1::GetMetricsRequest, v1::GetMetricsResponse>(
      server, "/api/v1/metrics", {}, nullptr, &C::GetMetrics, calls);
  Add<v1::ListLocksRequest, v1::ListLocksResponse>(
      server, "/api/v1/locks",
      {"prefix", "held_longer_than_ms", "contended_only", "page_size",
       "page_token"},
      FillLocks, &C::ListLocks, calls);
  Add<v1::DescribeLockRequest, v1::DescribeLockResponse>(
      server, "/api/v1/locks/describe", {"key", "max_waiters"}, FillDescribe,
      &C::DescribeLock, calls);
  Add<v1::ListSessionsRequest, v1::ListSessionsResponse>(
      server, "/api/v1/sessions", {"page_size", "page_token"}, FillSessions,
      &C::ListSessions, calls);
  Add<v1::GetWaitForGraphRequest, v1::GetWaitForGraphResponse>(
      server, "/api/v1/waitgraph", {"max_edges"},
      [](const QueryParams& q, v1::GetWaitForGraphRequest* r) {
        uint32_t n = 0;
        absl::Status s = q.Uint32("max_edges", kMaxUint32, &n);
        r->set_max_edges(n);
        return s;
      },
      &C::GetWaitForGraph, calls);
  Add<v1::GetRecentDeadlocksRequest, v1::GetRecentDeadlocksResponse>(
      server, "/api/v1/deadlocks", {"limit"},
      [](const QueryParams& q, v1::GetRecentDeadlocksRequest* r) {
        uint32_t n = 0;
        absl::Status s = q.Uint32("limit", kMaxUint32, &n);
        r->set_limit(n);
        return s;
      },
      &C::GetRecentDeadlocks, calls);
  Add<v1::GetLeakSuspectsRequest, v1::GetLeakSuspectsResponse>(
      server, "/api/v1/leaks", {"held_longer_than_ms", "p99_factor", "limit"},
      FillLeaks, &C::GetLeakSuspects, calls);
  Add<v1::GetContentionRequest, v1::GetContentionResponse>(
      server, "/api/v1/contention", {"limit"},
      [](const QueryParams& q, v1::GetContentionRequest* r) {
        uint32_t n = 0;
        absl::Status s = q.Uint32("limit", kMaxUint32, &n);
        r->set_limit(n);
        return s;
      },
      &C::GetContention, calls);
  Add<v1::GetLockStatsRequest, v1::GetLockStatsResponse>(
      server, "/api/v1/stats", {"key", "prefix"}, FillStats,
      &C::GetLockStats, calls);
  server->Get("/api/v1/health", [health](const httplib::Request& req,
                                         httplib::Response& res) {
    absl::StatusOr<QueryParams> q = QueryParams::Parse(req.target, {});
    if (!q.ok()) return ReplyError(q.status(), &res);
    ReplyJson(health(), &res);
  });
}

}  // namespace taala::admin
