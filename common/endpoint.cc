#include "common/endpoint.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace taala {
namespace {

// A scheme: "dns:///h:1", "unix:/p", "unix-abstract:n", "ipv4:1.2.3.4:5",
// "ipv6:[::1]:5", "vsock:...". gRPC resolves those as they are.
bool HasScheme(absl::string_view target) {
  for (absl::string_view scheme :
       {"dns:", "unix:", "unix-abstract:", "ipv4:", "ipv6:", "vsock:"}) {
    if (absl::StartsWith(target, scheme)) return true;
  }
  return absl::StrContains(target, "://");
}

absl::Status Invalid(absl::string_view target, absl::string_view why) {
  // CHexEscape: the target may come from anywhere and ends up on a terminal.
  return absl::InvalidArgumentError(
      absl::StrCat("endpoint \"", absl::CHexEscape(target), "\": ", why));
}

// Checks the port of `target` as WithDefaultPort returns it (a host and a
// port, or a scheme).
absl::Status CheckPort(absl::string_view original, absl::string_view target) {
  if (HasScheme(target)) return absl::OkStatus();
  absl::string_view port;
  if (target.front() == '[') {
    const size_t close = target.find(']');
    if (close == absl::string_view::npos || close + 1 >= target.size() ||
        target[close + 1] != ':') {
      return Invalid(original, "expected [IPV6]:PORT");
    }
    port = target.substr(close + 2);
  } else {
    const size_t colon = target.rfind(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return Invalid(original, "expected HOST[:PORT]");
    }
    port = target.substr(colon + 1);
  }
  int value = 0;
  if (port.empty() ||
      !std::all_of(port.begin(), port.end(),
                   [](char c) { return absl::ascii_isdigit(c); }) ||
      !absl::SimpleAtoi(port, &value) || value < 1 || value > 65535) {
    return Invalid(original,
                   absl::StrCat("port \"", absl::CHexEscape(port),
                                "\" is not a number in 1..65535"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string WithDefaultPort(absl::string_view target) {
  if (target.empty() || HasScheme(target)) return std::string(target);
  if (target.front() == '[') {
    // "[v6]", "[v6]:" or "[v6]:port".
    const size_t close = target.find(']');
    if (close == absl::string_view::npos) return std::string(target);
    const absl::string_view rest = target.substr(close + 1);
    if (rest.empty()) return absl::StrCat(target, ":", kDefaultPort);
    if (rest == ":") return absl::StrCat(target, kDefaultPort);
    return std::string(target);  // A port, or malformed: see CheckPort.
  }
  const auto colons = std::count(target.begin(), target.end(), ':');
  if (colons == 0) return absl::StrCat(target, ":", kDefaultPort);
  // Several colons and no brackets: a bare IPv6 address.
  if (colons > 1) return absl::StrCat("[", target, "]:", kDefaultPort);
  // "host:": the port left out, as with "host".
  if (target.back() == ':') return absl::StrCat(target, kDefaultPort);
  return std::string(target);
}

absl::StatusOr<std::string> NormalizeEndpoint(absl::string_view target) {
  if (target.empty()) return Invalid(target, "empty");
  std::string normalized = WithDefaultPort(target);
  if (absl::Status s = CheckPort(target, normalized); !s.ok()) return s;
  return normalized;
}

absl::StatusOr<std::string> ResolveEndpoint(absl::string_view explicit_endpoint,
                                            const char* env) {
  if (!explicit_endpoint.empty()) return NormalizeEndpoint(explicit_endpoint);
  if (env != nullptr && env[0] != '\0') {
    absl::StatusOr<std::string> endpoint = NormalizeEndpoint(env);
    if (!endpoint.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("$", kEndpointEnvVar, ": ", endpoint.status().message()));
    }
    return endpoint;
  }
  return std::string(kDefaultEndpoint);
}

}  // namespace taala
