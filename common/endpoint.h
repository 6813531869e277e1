#ifndef TAALA_COMMON_ENDPOINT_H_
#define TAALA_COMMON_ENDPOINT_H_

// Where taalactl and the client library dial when told nothing, and how they
// read an endpoint given as a bare host. gRPC would dial a target without a
// port on :443 (the https port); taalad listens on 7070.

#include <string>

#include "absl/strings/string_view.h"

namespace taala {

inline constexpr int kDefaultPort = 7070;
inline constexpr char kDefaultEndpoint[] = "127.0.0.1:7070";
// The environment variable that names the endpoint when no argument does.
inline constexpr char kEndpointEnvVar[] = "TAALA_ENDPOINT";

// `target` with ":7070" appended when it names a host without a port:
// "db1" -> "db1:7070", "[::1]" -> "[::1]:7070", "::1" -> "[::1]:7070".
// "host:port", "[v6]:port" and gRPC targets with a scheme ("dns:///h:1",
// "unix:/path", "ipv4:...") are returned unchanged.
std::string WithDefaultPort(absl::string_view target);

// The endpoint to dial: `explicit_endpoint` if not empty, else `env` (the
// value of $TAALA_ENDPOINT, may be null) if not empty, else
// kDefaultEndpoint; with WithDefaultPort applied.
std::string ResolveEndpoint(absl::string_view explicit_endpoint,
                            const char* env);

}  // namespace taala

#endif  // TAALA_COMMON_ENDPOINT_H_
