// taala::Client (client/lock_client.h): option checks, and the RpcCaller
// that is its state. Sessions are opened in session.cc.

#include "client/lock_client.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "client/rpc_caller.h"
#include "common/endpoint.h"

namespace taala {

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
  return std::unique_ptr<Client>(
      new Client(std::make_unique<Impl>(std::move(options))));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

const ClientOptions& Client::options() const { return impl_->options(); }
CircuitState Client::circuit_state() const { return impl_->circuit_state(); }

absl::Status Client::CheckHealth() { return impl_->CheckHealth(); }

}  // namespace taala
