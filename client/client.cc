// taala::Client (client/lock_client.h): option checks, and the RpcCaller
// that is its state. Sessions are opened in session.cc.

#include "client/lock_client.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "client/rpc_caller.h"
#include "common/endpoint.h"

namespace taala {
namespace {

// Reads `*file` into `*pem` (the file wins only if the text is empty).
absl::Status LoadPem(const char* name, const std::string& file,
                     std::string* pem) {
  if (file.empty()) return absl::OkStatus();
  if (!pem->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls: both ", name, "_pem and ", name, "_file are set"));
  }
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls.", name, "_file: cannot read ", file));
  }
  *pem = text.str();
  return absl::OkStatus();
}

absl::Status LoadTls(TlsOptions* tls) {
  if (absl::Status s =
          LoadPem("root_certs", tls->root_certs_file, &tls->root_certs_pem);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          LoadPem("cert_chain", tls->cert_chain_file, &tls->cert_chain_pem);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = LoadPem("private_key", tls->private_key_file,
                               &tls->private_key_pem);
      !s.ok()) {
    return s;
  }
  if (tls->cert_chain_pem.empty() != tls->private_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "tls: a client certificate needs its private key, and a key its "
        "certificate");
  }
  if (!tls->root_certs_pem.empty() || !tls->cert_chain_pem.empty()) {
    tls->enabled = true;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(ClientOptions options) {
  if (options.endpoints.empty()) {
    // No explicit endpoint: the environment's, else the default (the same
    // precedence as taalactl's --endpoint). An invalid $TAALA_ENDPOINT is an
    // error naming it, not a silent fallback to the default.
    absl::StatusOr<std::string> endpoint =
        ResolveEndpoint("", std::getenv(kEndpointEnvVar));
    if (!endpoint.ok()) return endpoint.status();
    options.endpoints = {*std::move(endpoint)};
  }
  for (std::string& endpoint : options.endpoints) {
    if (endpoint.empty()) {
      return absl::InvalidArgumentError("endpoints: an endpoint is empty");
    }
    absl::StatusOr<std::string> normalized = NormalizeEndpoint(endpoint);
    if (!normalized.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoints: ", normalized.status().message()));
    }
    endpoint = *std::move(normalized);
  }
  if (options.retry.max_attempts < 1) {
    return absl::InvalidArgumentError("retry.max_attempts: must be >= 1");
  }
  if (options.circuit_breaker.failure_threshold < 1) {
    return absl::InvalidArgumentError(
        "circuit_breaker.failure_threshold: must be >= 1");
  }
  if (!(options.retry.jitter >= 0 && options.retry.jitter < 1) ||
      options.retry.multiplier < 1 ||
      options.retry.initial_backoff <= absl::ZeroDuration() ||
      options.retry.max_backoff < options.retry.initial_backoff) {
    return absl::InvalidArgumentError(
        "retry: need 0 <= jitter < 1, multiplier >= 1 and "
        "0 < initial_backoff <= max_backoff");
  }
  if (options.call_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("call_timeout: must be positive");
  }
  if (absl::Status s = LoadTls(&options.tls); !s.ok()) return s;
  for (char c : options.bearer_token) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(
          "bearer_token: printable ASCII only (it travels in call metadata)");
    }
  }
  return std::unique_ptr<Client>(
      new Client(std::make_unique<Impl>(std::move(options))));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

const ClientOptions& Client::options() const { return impl_->options(); }
CircuitState Client::circuit_state() const { return impl_->circuit_state(); }

absl::Status Client::CheckHealth() { return impl_->CheckHealth(); }

}  // namespace taala
