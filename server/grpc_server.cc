#include "server/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/limit_transport_flags.h"
#include "server/listen_address.h"

namespace taala {

absl::StatusOr<std::unique_ptr<grpc::Server>> StartGrpcServer(
    const std::string& listen,
    std::shared_ptr<grpc::ServerCredentials> credentials,
    const std::vector<grpc::Service*>& services, int* port) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  *port = 0;
  builder.AddListeningPort(listen, std::move(credentials), port);
  for (grpc::Service* service : services) builder.RegisterService(service);
  // One daemon per port: with SO_REUSEPORT (gRPC's default) a second taalad
  // binds the same port and the kernel splits clients between two
  // independent lock tables, so two of them could hold one key.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Let clients detect dead connections with HTTP/2 pings (the client
  // library pings every 10 s, also while idle).
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  if (absl::Status s = ApplyTransportLimits(&builder); !s.ok()) return s;
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", listen, ": ", WhyCannotListen(listen)));
  }
  return server;
}

}  // namespace taala
