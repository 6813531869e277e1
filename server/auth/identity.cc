#include "server/auth/identity.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"

namespace taala {
namespace auth {

absl::string_view PermissionName(Permission p) {
  switch (p) {
    case Permission::kLock:
      return "lock";
    case Permission::kRead:
      return "read";
    case Permission::kAdmin:
      return "admin";
  }
  return "unknown";
}

namespace {

// "10.0.0.7" of "ipv4:10.0.0.7:5512"; "::1" of "ipv6:[::1]:5512"; the rest
// as it is.
std::string PeerAddress(absl::string_view peer) {
  if (absl::ConsumePrefix(&peer, "ipv4:")) {
    const size_t colon = peer.rfind(':');
    return std::string(colon == absl::string_view::npos ? peer
                                                         : peer.substr(0, colon));
  }
  if (absl::ConsumePrefix(&peer, "ipv6:")) {
    if (absl::ConsumePrefix(&peer, "[")) {
      const size_t close = peer.find(']');
      if (close != absl::string_view::npos) peer = peer.substr(0, close);
    }
    // "%25eth0" (a zone) is part of one host's address: kept.
    return std::string(peer);
  }
  return std::string(peer);
}

// "::ffff:10.0.0.7" (an IPv4 client of a dual-stack socket) as "10.0.0.7",
// so that one host is one identity whichever socket it reached.
std::string Unmapped(const std::string& address) {
  in6_addr v6;
  if (inet_pton(AF_INET6, address.c_str(), &v6) == 1 &&
      IN6_IS_ADDR_V4MAPPED(&v6)) {
    char text[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &v6.s6_addr[12], text, sizeof(text)) != nullptr) {
      return text;
    }
  }
  return address;
}

}  // namespace

Identity AnonymousIdentity(absl::string_view grpc_peer) {
  Identity id;
  id.anonymous = true;
  const std::string address = PeerAddress(grpc_peer);
  id.name = absl::StrCat("anonymous@", Unmapped(address));
  return id;
}

bool IsReservedIdentityName(absl::string_view name) {
  return absl::StartsWith(name, "anonymous@") || name == "taalad";
}

}  // namespace auth
}  // namespace taala
