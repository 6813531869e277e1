#include "server/admin_listener.h"

#include <grpcpp/server.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/listen_address.h"
#include "spdlog/spdlog.h"

namespace taala {

absl::Status CheckAdminListen(const std::string& listen, bool allow_remote) {
  if (listen.empty() || IsLoopback(listen) || allow_remote) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "--admin_listen=", listen,
      " is not a loopback address; it would show every lock, holder and "
      "label to the network without TLS. Pass --insecure_allow_remote to do "
      "it anyway, or --admin_listen= to turn the listener off."));
}

absl::StatusOr<std::unique_ptr<admin::AdminServer>> StartAdmin(
    const std::string& listen, const std::string& port_file,
    grpc::Server* server) {
  if (listen.empty()) return nullptr;
  admin::AdminServer::Options options;
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &options.port) ||
      options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--admin_listen=", listen, ": want host:port"));
  }
  options.host = listen.substr(0, colon);
  if (options.host.size() >= 2 && options.host.front() == '[' &&
      options.host.back() == ']') {
    options.host = options.host.substr(1, options.host.size() - 2);
  }
  options.channel = server->InProcessChannel(grpc::ChannelArguments());
  absl::StatusOr<std::unique_ptr<admin::AdminServer>> admin =
      admin::AdminServer::Start(options);
  if (!admin.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on --admin_listen=", listen, ": ",
        WhyCannotListen(listen)));
  }
  spdlog::info("admin listener on http://{}:{}/ (dashboard, /metrics, "
               "/healthz, /readyz, /api/v1/)",
               listen.substr(0, colon), (*admin)->port());
  if (!port_file.empty() && !WritePortFile(port_file, (*admin)->port())) {
    return absl::UnavailableError(
        absl::StrCat("cannot write --admin_port_file ", port_file));
  }
  return admin;
}

}  // namespace taala
