#include "common/endpoint.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace taala {

std::string WithDefaultPort(absl::string_view target) {
  if (target.empty()) return std::string(target);
  // A scheme: "dns:///h:1", "unix:/p", "unix-abstract:n", "ipv4:1.2.3.4:5",
  // "ipv6:[::1]:5", "vsock:...". gRPC resolves those as they are.
  for (absl::string_view scheme :
       {"dns:", "unix:", "unix-abstract:", "ipv4:", "ipv6:", "vsock:"}) {
    if (absl::StartsWith(target, scheme)) return std::string(target);
  }
  if (absl::StrContains(target, "://")) return std::string(target);
  if (target.front() == '[') {
    // "[v6]" or "[v6]:port".
    const size_t close = target.find(']');
    if (close != absl::string_view::npos && close + 1 < target.size()) {
      return std::string(target);
    }
    return absl::StrCat(target, ":", kDefaultPort);
  }
  const auto colons = std::count(target.begin(), target.end(), ':');
  if (colons == 0) return absl::StrCat(target, ":", kDefaultPort);
  // Several colons and no brackets: a bare IPv6 address.
  if (colons > 1) return absl::StrCat("[", target, "]:", kDefaultPort);
  return std::string(target);
}

std::string ResolveEndpoint(absl::string_view explicit_endpoint,
                            const char* env) {
  if (!explicit_endpoint.empty()) return WithDefaultPort(explicit_endpoint);
  if (env != nullptr && env[0] != '\0') return WithDefaultPort(env);
  return kDefaultEndpoint;
}

}  // namespace taala
