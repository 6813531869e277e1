#ifndef TAALA_SERVER_RPC_UNARY_H_
#define TAALA_SERVER_RPC_UNARY_H_

// How LockServiceImpl's unary methods finish: after the records of what
// they report are durable, with raw-bytes requests parsed so that a string
// that is not UTF-8 gets INVALID_ARGUMENT naming the field.

#include <grpcpp/support/byte_buffer.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/transition.h"
#include "server/rpc/durable_finish.h"
#include "server/rpc/grpc_status.h"
#include "server/rpc/raw_request.h"
#include "server/rpc/translation.h"

namespace taala {

// Every reply waits until the records of what it reports are durable
// (durable_finish.h): even a refusal may report state that a crash before
// the fsync would undo.
inline grpc::ServerUnaryReactor* FinishNow(TransitionLog& log,
                                    grpc::CallbackServerContext* ctx,
                                    const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  FinishWhenDurable(log, reactor, ToGrpcStatus(status));
  return reactor;
}

// Finishes a raw-bytes call: `resp` is serialized into `out` when OK.
inline grpc::ServerUnaryReactor* FinishNow(TransitionLog& log,
                                    grpc::CallbackServerContext* ctx,
                                    const absl::Status& status,
                                    const google::protobuf::Message& resp,
                                    grpc::ByteBuffer* out) {
  if (status.ok()) SerializeResponse(resp, out);
  return FinishNow(log, ctx, status);
}

// Serves a unary call whose request arrives as raw bytes: parses it, runs
// `handle(&request, &response)` and finishes with its status, sending the
// response when OK.
template <typename Request, typename Response, typename Handler>
grpc::ServerUnaryReactor* ServeRaw(TransitionLog& log,
                                   grpc::CallbackServerContext* ctx,
                                   const grpc::ByteBuffer* raw,
                                   grpc::ByteBuffer* raw_resp,
                                   Handler handle) {
  Request req;
  Response resp;
  absl::Status status = ParseRequest(*raw, &req);
  if (status.ok()) status = handle(&req, &resp);
  return FinishNow(log, ctx, status, resp, raw_resp);
}

// Fills `out` from `result` (as of `now`) when OK; returns its status.
template <typename T, typename Out>
absl::Status Answer(const absl::StatusOr<T>& result, absl::Time now,
                    Out* out) {
  if (result.ok()) ToProto(*result, now, out);
  return result.status();
}

}  // namespace taala

#endif  // TAALA_SERVER_RPC_UNARY_H_
