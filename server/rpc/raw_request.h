#ifndef TAALA_SERVER_RPC_RAW_REQUEST_H_
#define TAALA_SERVER_RPC_RAW_REQUEST_H_

// Requests whose string fields may carry invalid UTF-8 are served as raw
// bytes: protobuf refuses to parse such a proto3 message and gRPC would then
// answer a bare UNIMPLEMENTED. Parsing here lets taalad answer
// INVALID_ARGUMENT naming the field instead.

#include <grpcpp/support/byte_buffer.h>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace taala {

// Parses `raw` into `out`. INVALID_ARGUMENT if it is not a valid message:
// "<field>: not valid UTF-8" when a string field is the cause.
absl::Status ParseRequest(const grpc::ByteBuffer& raw,
                          google::protobuf::Message* out);

// Serializes `message` into `out`.
void SerializeResponse(const google::protobuf::Message& message,
                       grpc::ByteBuffer* out);

}  // namespace taala

#endif  // TAALA_SERVER_RPC_RAW_REQUEST_H_
