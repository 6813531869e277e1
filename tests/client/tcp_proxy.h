// A loopback TCP proxy for client tests: forwards every connection to a
// taalad, and Cut() breaks every connection made so far (as a network
// failure would) while new ones are still accepted.

#ifndef TAALA_TESTS_CLIENT_TCP_PROXY_H_
#define TAALA_TESTS_CLIENT_TCP_PROXY_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace taala::test {

class TcpProxy {
 public:
  explicit TcpProxy(int target_port) : target_port_(target_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = Loopback(0);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(listen_fd_, 16);
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~TcpProxy() {
    shutdown(listen_fd_, SHUT_RDWR);  // Wakes accept().
    acceptor_.join();
    close(listen_fd_);
    Cut();
    std::vector<std::thread> pumps;
    {
      absl::MutexLock lock(&mu_);
      pumps.swap(pumps_);
    }
    for (std::thread& t : pumps) t.join();
    absl::MutexLock lock(&mu_);
    for (int fd : all_fds_) close(fd);
  }
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  // Breaks every connection made so far.
  void Cut() {
    absl::MutexLock lock(&mu_);
    for (int fd : live_fds_) shutdown(fd, SHUT_RDWR);
    live_fds_.clear();
  }

 private:
  static sockaddr_in Loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
  }

  void AcceptLoop() {
    while (true) {
      const int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) return;
      const int server = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr = Loopback(target_port_);
      if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
          0) {
        close(client);
        close(server);
        continue;
      }
      absl::MutexLock lock(&mu_);
      for (int fd : {client, server}) {
        live_fds_.push_back(fd);
        all_fds_.push_back(fd);
      }
      pumps_.emplace_back([client, server] { Pump(client, server); });
      pumps_.emplace_back([client, server] { Pump(server, client); });
    }
  }

  static void Pump(int from, int to) {
    char buf[16384];
    while (true) {
      const ssize_t n = read(from, buf, sizeof(buf));
      if (n <= 0) break;
      for (ssize_t off = 0; off < n;) {
        const ssize_t w =
            send(to, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
        if (w <= 0) {
          off = n;
          break;
        }
        off += w;
      }
    }
    shutdown(from, SHUT_RDWR);
    shutdown(to, SHUT_RDWR);
  }

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  absl::Mutex mu_;
  std::vector<int> live_fds_ ABSL_GUARDED_BY(mu_);
  std::vector<int> all_fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> pumps_ ABSL_GUARDED_BY(mu_);
};

}  // namespace taala::test

#endif  // TAALA_TESTS_CLIENT_TCP_PROXY_H_
