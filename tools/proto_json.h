// File: tools/proto_json.h
// -----------------------------------------------------------------------------
// taalactl --json: a message in protobuf's proto3 JSON mapping
// (util::MessageToJsonString, as grpcurl and `etcdctl -w json` print), with
// the proto's field names (snake_case, as in the .proto and the docs) and
// every field shown, defaults included, so scripts need not guess at missing
// keys. 64-bit integers are strings and enums their names, as the mapping
// says. Read back with util::JsonStringToMessage.

#ifndef TAALA_TOOLS_PROTO_JSON_H_
#define TAALA_TOOLS_PROTO_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace taala::tools {

// One line of JSON, without the trailing newline. INTERNAL if the message
// cannot be mapped (a string field that is not UTF-8).
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message);

}  // namespace taala::tools

#endif  // TAALA_TOOLS_PROTO_JSON_H_
