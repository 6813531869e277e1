#ifndef TAALA_SERVER_ADMIN_ROUTES_H_
#define TAALA_SERVER_ADMIN_ROUTES_H_

// The admin listener's JSON endpoints (/api/v1/...) and the replies every
// endpoint shares. Internal to server/admin.

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "taala/v1/lock_service.pb.h"

namespace httplib {
class Server;
struct Response;
}  // namespace httplib

namespace taala::admin {

class LockServiceCalls;

// Registers /api/v1/status, metrics, locks, locks/describe, sessions,
// waitgraph, deadlocks, leaks, contention, stats and health (from
// `health`). `calls` must outlive `server`'s serving.
void AddJsonEndpoints(httplib::Server* server, LockServiceCalls* calls,
                      std::function<v1::Health()> health);

// The proto3 JSON mapping of `message` as protobuf's MessageToJsonString
// prints it (the proto's field names, as taalactl --json; every field
// shown; 64-bit integers as strings), with a final newline.
std::string ToJson(const google::protobuf::Message& message);

// 200 with `message` as JSON.
void ReplyJson(const google::protobuf::Message& message,
               httplib::Response* res);
// An error as JSON, {"code": 3, "status": "INVALID_ARGUMENT", "message":
// "..."}, with the HTTP status for its code (400, 404, 501, 503, ...).
void ReplyError(const absl::Status& status, httplib::Response* res);
int HttpStatusFor(absl::StatusCode code);

}  // namespace taala::admin

#endif  // TAALA_SERVER_ADMIN_ROUTES_H_
