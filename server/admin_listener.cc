#include "server/admin_listener.h"

#include <grpcpp/server.h>
#include <grpcpp/support/client_interceptor.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/admin/http_auth.h"
#include "server/listen_address.h"
#include "server/rpc/call_identity.h"
#include "spdlog/spdlog.h"

namespace taala {
namespace {

// "host:port" (host may be "[v6]"; port digits only, 0..65535) into host
// (without brackets) and port.
absl::Status SplitAdminListen(const std::string& listen, std::string* host,
                              int* port) {
  const size_t colon = listen.rfind(':');
  const std::string digits =
      colon == std::string::npos ? "" : listen.substr(colon + 1);
  const bool all_digits =
      !digits.empty() && digits.size() <= 5 &&
      digits.find_first_not_of("0123456789") == std::string::npos;
  if (colon == std::string::npos || colon == 0 || !all_digits ||
      !absl::SimpleAtoi(digits, port) || *port > 65535 ||
      listen.substr(0, colon) == "[]") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--admin_listen=", listen,
        ": want host:port (e.g. 127.0.0.1:7071, [::1]:7071; port 0 picks a "
        "free one), or empty to turn the listener off"));
  }
  *host = listen.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return absl::OkStatus();
}

// Marks every call of the listener's in-process channel as taalad's own
// (call_identity.h): the listener checked its HTTP caller already.
class InternalCallMarker final : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::
                PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace(kInternalCallMetadata,
                                                 InternalCallSecret());
    }
    methods->Proceed();
  }
};

class InternalCallMarkerFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new InternalCallMarker;
  }
};

}  // namespace

absl::Status CheckAdminListen(const std::string& listen, bool allow_remote,
                              const auth::AuthState* auth) {
  if (listen.empty()) return absl::OkStatus();
  // Its form first: a malformed address gets "want host:port", not advice
  // to expose it.
  std::string host;
  int port = 0;
  if (absl::Status s = SplitAdminListen(listen, &host, &port); !s.ok()) {
    return s;
  }
  if (IsLoopback(listen) || allow_remote) return absl::OkStatus();
  if (auth != nullptr && !admin::IsOpenToAnyone(*auth->Current())) {
    return absl::OkStatus();  // Probes only, unless a bearer token is sent.
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "--admin_listen=", listen,
      " is not a loopback address; it would show every lock, holder and "
      "label to the network without TLS. Configure authentication "
      "(--auth_tokens_file, --acl_file or --tls_client_ca: then only "
      "/healthz and /readyz answer without a bearer token), pass "
      "--insecure_allow_remote to do it anyway, or --admin_listen= to turn "
      "the listener off."));
}

absl::StatusOr<std::unique_ptr<admin::AdminServer>> StartAdmin(
    const std::string& listen, const std::string& port_file,
    grpc::Server* server, const auth::AuthState* auth) {
  if (listen.empty()) return nullptr;
  admin::AdminServer::Options options;
  options.auth = auth;
  if (absl::Status s = SplitAdminListen(listen, &options.host, &options.port);
      !s.ok()) {
    return s;
  }
  std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(std::make_unique<InternalCallMarkerFactory>());
  options.channel = server->experimental().InProcessChannelWithInterceptors(
      grpc::ChannelArguments(), std::move(interceptors));
  absl::StatusOr<std::unique_ptr<admin::AdminServer>> admin =
      admin::AdminServer::Start(options);
  if (!admin.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on --admin_listen=", listen, ": ",
        WhyCannotListen(listen)));
  }
  spdlog::info("admin listener on http://{}:{}/ (dashboard, /metrics, "
               "/healthz, /readyz, /api/v1/)",
               listen.substr(0, listen.rfind(":")), (*admin)->port());
  if (auth != nullptr) {
    const std::shared_ptr<const auth::AuthConfig> config = auth->Current();
    // Closed (http_auth.cc) once auth is configured; without a token file
    // nobody can present the listener's only credential.
    const bool closed = !config->allow_anonymous || config->acl.has_value();
    if (closed && !config->tokens.has_value()) {
      spdlog::warn("admin listener: authentication is configured but there "
                   "is no --auth_tokens_file (its bearer tokens are the "
                   "listener's only credential): it serves /healthz and "
                   "/readyz only");
    }
  }
  if (!port_file.empty() && !WritePortFile(port_file, (*admin)->port())) {
    return absl::UnavailableError(
        absl::StrCat("cannot write --admin_port_file ", port_file));
  }
  return admin;
}

}  // namespace taala
