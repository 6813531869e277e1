#ifndef TAALA_SERVER_LISTEN_ADDRESS_H_
#define TAALA_SERVER_LISTEN_ADDRESS_H_

// taalad's listening address: what counts as loopback, one daemon per port
// across both loopback families, why a port could not be had, and the port
// file.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace taala {

// --listen's form: "host:port" with a port of digits only in 0..65535
// (gRPC would take 65536 modulo 2^16 and serve some other port) and a
// non-empty host; "unix:" addresses are gRPC's to check. The error names
// the flag.
absl::Status CheckListenAddress(const std::string& listen);

// True if `listen` ("host:port") names a loopback address: an IPv4 literal
// in 127.0.0.0/8, the IPv6 literal [::1], or "localhost" when every address
// it resolves to (getaddrinfo) is loopback. Any other host name, even one
// that starts with "127." ("127.evil.example"), is not. A "unix:PATH"
// socket counts as loopback: only this machine reaches it.
bool IsLoopback(const std::string& listen);
// What taalad serves on, for its log and the service manager: "host:port"
// with the port it bound (for --listen=HOST:0), or the unix: address.
std::string BoundAddress(const std::string& listen, int port);

// True if `host` resolves (getaddrinfo) to at least one address and every
// one is loopback.
bool HostResolvesOnlyToLoopback(const std::string& host);

// One daemon per port across both loopback families: a taalad on
// 127.0.0.1:P binds (without listening, so clients that try it are refused
// at once) [::1]:P too, and the reverse, so that a second taalad cannot
// serve the other family on the same port while clients dialling
// "localhost:P" reach either. Returns the guard socket (-1 if none is
// needed or the other family does not exist here), or an error message if
// the other address is in use.
absl::StatusOr<int> ClaimOtherLoopback(const std::string& listen, int port);

// Why gRPC could not listen on `listen` ("host:port"): binds a probe socket
// the way gRPC does and names the error ("address in use" when another
// process serves there).
std::string WhyCannotListen(const std::string& listen);

// Writes `port` to `path` (through a temporary file and a rename).
bool WritePortFile(const std::string& path, int port);

}  // namespace taala

#endif  // TAALA_SERVER_LISTEN_ADDRESS_H_
