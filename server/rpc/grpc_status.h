#ifndef TAALA_SERVER_RPC_GRPC_STATUS_H_
#define TAALA_SERVER_RPC_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace taala {

// The only place absl::Status becomes grpc::Status. The codes are the same
// numbers in both; the message is kept as is.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace taala

#endif  // TAALA_SERVER_RPC_GRPC_STATUS_H_
