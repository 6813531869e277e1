#include "server/listen_address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace taala {

namespace {

bool IsLoopbackSockaddr(const sockaddr* addr) {
  if (addr->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(addr);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (addr->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(addr);
    return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
  }
  return false;
}

}  // namespace

absl::Status CheckListenAddress(const std::string& listen) {
  if (absl::StartsWith(listen, "unix:")) return absl::OkStatus();
  const size_t colon = listen.rfind(':');
  const std::string digits =
      colon == std::string::npos ? "" : listen.substr(colon + 1);
  int port = 0;
  if (colon == std::string::npos || colon == 0 || digits.empty() ||
      digits.size() > 5 ||
      digits.find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(digits, &port) || port > 65535 ||
      listen.substr(0, colon) == "[]") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen=", listen,
        ": want host:port with a port in 0..65535 (e.g. 127.0.0.1:7070, "
        "[::1]:7070; port 0 picks a free one)"));
  }
  return absl::OkStatus();
}

bool HostResolvesOnlyToLoopback(const std::string& host) {
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return false;
  bool any = false;
  bool all_loopback = true;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    any = true;
    if (a->ai_addr == nullptr || !IsLoopbackSockaddr(a->ai_addr)) {
      all_loopback = false;
    }
  }
  freeaddrinfo(found);
  return any && all_loopback;
}

std::string BoundAddress(const std::string& listen, int port) {
  if (absl::StartsWith(listen, "unix:")) return listen;
  return absl::StrCat(listen.substr(0, listen.rfind(':')), ":", port);
}

bool IsLoopback(const std::string& listen) {
  // A unix socket is reached only from this machine, like 127.0.0.1 (its
  // file's permissions narrow who may).
  if (absl::StartsWith(listen, "unix:")) return true;
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = listen.substr(0, colon);
  // The one name taken: whatever /etc/hosts (or DNS) makes of it, every
  // address gRPC would bind must be loopback.
  if (host == "localhost") return HostResolvesOnlyToLoopback(host);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    in6_addr v6;
    return inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(),
                     &v6) == 1 &&
           IN6_IS_ADDR_LOOPBACK(&v6);
  }
  // Only a dotted-quad literal (inet_pton takes no other form): a name such
  // as "127.evil.example" is not an address, whatever it resolves to.
  in_addr v4;
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 &&
         (ntohl(v4.s_addr) >> 24) == 127;
}

absl::StatusOr<int> ClaimOtherLoopback(const std::string& listen, int port) {
  // A unix socket has no other loopback address (and its "port" is none).
  if (absl::StartsWith(listen, "unix:")) return -1;
  const std::string host = listen.substr(0, listen.rfind(':'));
  sockaddr_storage addr = {};
  socklen_t len = 0;
  std::string other;
  if (host == "[::1]") {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(*v4);
    other = absl::StrCat("127.0.0.1:", port);
  } else if (IsLoopback(listen) && host != "localhost") {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    v6->sin6_addr = in6addr_loopback;
    len = sizeof(*v6);
    other = absl::StrCat("[::1]:", port);
  } else {
    return -1;  // localhost: gRPC binds every address it resolves to.
  }
  const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;  // No such family here: nobody can serve it.
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    const int err = errno;
    close(fd);
    if (err == EADDRINUSE) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot listen on ", listen, ": address in use on the other "
          "loopback address ", other, " (is another taalad serving there?)"));
    }
    return -1;  // E.g. IPv6 disabled: nobody can serve it either.
  }
  return fd;
}

bool WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.good()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

std::string WhyCannotListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return "no port in the address";
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* addrs = nullptr;
  if (const int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(),
                                 port.c_str(), &hints, &addrs);
      rc != 0) {
    return absl::StrCat("cannot resolve it: ", gai_strerror(rc));
  }
  std::string why = "gRPC refused it";
  for (addrinfo* a = addrs; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0) {
      why = errno == EADDRINUSE
                ? "address in use (is another taalad serving there?)"
                : std::strerror(errno);
      close(fd);
      break;
    }
    close(fd);
  }
  freeaddrinfo(addrs);
  return why;
}

}  // namespace taala
