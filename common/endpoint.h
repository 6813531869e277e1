#ifndef TAALA_COMMON_ENDPOINT_H_
#define TAALA_COMMON_ENDPOINT_H_

// Where taalactl and the client library dial when told nothing, and how they
// read an endpoint given as a bare host. gRPC would dial a target without a
// port on :443 (the https port); taalad listens on 7070. gRPC also takes a
// port out of range modulo 65536, so a typo would reach another service:
// such ports are refused here.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace taala {

inline constexpr int kDefaultPort = 7070;
inline constexpr char kDefaultEndpoint[] = "127.0.0.1:7070";
// The environment variable that names the endpoint when no argument does.
inline constexpr char kEndpointEnvVar[] = "TAALA_ENDPOINT";

// `target` with port 7070 when it names a host without a port or with an
// empty one: "db1" and "db1:" -> "db1:7070", "[::1]" and "[::1]:" ->
// "[::1]:7070", "::1" -> "[::1]:7070". "host:port", "[v6]:port" and gRPC
// targets with a scheme ("dns:///h:1", "unix:/path", "ipv4:...") are
// returned unchanged. Does not check the port: see NormalizeEndpoint.
std::string WithDefaultPort(absl::string_view target);

// WithDefaultPort(target), or INVALID_ARGUMENT naming `target` when it is
// empty or its port is not a number in 1..65535 ("h:70000", "h:-1",
// "h:http", "[::1]x"). Targets with a scheme are not checked: gRPC reads
// them.
absl::StatusOr<std::string> NormalizeEndpoint(absl::string_view target);

// The endpoint to dial: NormalizeEndpoint(explicit_endpoint) if not empty,
// else NormalizeEndpoint(env) (the value of $TAALA_ENDPOINT, may be null) if
// not empty, else kDefaultEndpoint. An invalid $TAALA_ENDPOINT is
// INVALID_ARGUMENT naming the variable.
absl::StatusOr<std::string> ResolveEndpoint(absl::string_view explicit_endpoint,
                                            const char* env);

}  // namespace taala

#endif  // TAALA_COMMON_ENDPOINT_H_
