#ifndef TAALA_SERVER_AUTH_IDENTITY_H_
#define TAALA_SERVER_AUTH_IDENTITY_H_

// Who makes a call, and what it may be allowed to do (docs/security.md).
// No gRPC here: server/rpc/call_gate.h reads identities off calls.

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace taala {
namespace auth {

// What an ACL rule grants on a key prefix: take and give back locks
// (sessions included), see state (introspection, Watch), act as an operator
// (AdminService, the admin listener's JSON and dashboard).
enum class Permission : uint8_t { kLock = 1, kRead = 2, kAdmin = 4 };

// "lock", "read", "admin".
absl::string_view PermissionName(Permission p);

struct Identity {
  // A token's identity (--auth_tokens_file), a client certificate's subject
  // CN (or first SAN), or "anonymous@<peer address>" ("anonymous@127.0.0.1").
  std::string name;
  bool anonymous = false;
  // Calls made by taalad itself (the admin listener, over its in-process
  // channel, after it checked its own HTTP caller): every permission.
  bool internal = false;
};

// The anonymous identity of a gRPC peer string ("ipv4:10.0.0.7:5512",
// "ipv6:[::1]:5512", "unix:..."): one identity per address, the
// port dropped, so the limits count one client host as one identity.
Identity AnonymousIdentity(absl::string_view grpc_peer);

// Names that only taalad gives: "anonymous@..." (AnonymousIdentity) and
// "taalad" (its own calls). A token line or a client certificate that
// claims one is refused, so no credential can act as anonymous callers
// or as taalad; an ACL rule may still name them.
bool IsReservedIdentityName(absl::string_view name);

}  // namespace auth
}  // namespace taala

#endif  // TAALA_SERVER_AUTH_IDENTITY_H_
