#include "server/admin/deadline_server.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <utility>

#include "absl/time/clock.h"

namespace taala::admin {
namespace {

// A socket stream whose reads end at a fixed deadline and whose writes end
// a fixed time after the first one, each wait also bounded by httplib's
// per-operation timeout. Reads are buffered (httplib reads request lines a
// byte at a time).
class DeadlineStream : public httplib::Stream {
 public:
  DeadlineStream(socket_t fd, absl::Time read_deadline,
                 absl::Duration write_budget, absl::Duration read_timeout,
                 absl::Duration write_timeout)
      : fd_(fd),
        read_deadline_(read_deadline),
        write_budget_(write_budget),
        read_timeout_(read_timeout),
        write_timeout_(write_timeout) {}

  bool is_readable() const override {
    return pos_ < len_ || Wait(POLLIN, read_deadline_, read_timeout_);
  }

  bool is_writable() const override {
    if (write_deadline_ == absl::InfinitePast()) {
      write_deadline_ = absl::Now() + write_budget_;
    }
    return Wait(POLLOUT, write_deadline_, write_timeout_);
  }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ == len_) {
      if (!is_readable()) return -1;
      ssize_t n;
      do {
        n = recv(fd_, buffer_, sizeof(buffer_), 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      pos_ = 0;
      len_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, len_ - pos_);
    std::memcpy(ptr, buffer_ + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n;
    do {
      n = send(fd_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    Address(getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    Address(getsockname, ip, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  // Waits for `events` until `deadline`, at most `timeout`; false on
  // expiry or error.
  bool Wait(short events, absl::Time deadline, absl::Duration timeout) const {
    for (;;) {
      const absl::Duration left = std::min(deadline - absl::Now(), timeout);
      if (left <= absl::ZeroDuration()) return false;
      pollfd p = {fd_, events, 0};
      const int ms = static_cast<int>(
          absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
      const int r = poll(&p, 1, ms);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      return (p.revents & (events | POLLHUP | POLLERR)) != 0;
    }
  }

  template <typename GetName>
  void Address(GetName get_name, std::string& ip, int& port) const {
    sockaddr_storage addr;
    socklen_t addr_len = sizeof(addr);
    if (get_name(fd_, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) {
      return;
    }
    char host[NI_MAXHOST];
    char serv[NI_MAXSERV];
    if (getnameinfo(reinterpret_cast<sockaddr*>(&addr), addr_len, host,
                    sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
      ip = host;
      port = std::atoi(serv);
    }
  }

  const socket_t fd_;
  const absl::Time read_deadline_;
  const absl::Duration write_budget_;
  const absl::Duration read_timeout_;
  const absl::Duration write_timeout_;
  mutable absl::Time write_deadline_ = absl::InfinitePast();
  char buffer_[4096];
  size_t pos_ = 0;
  size_t len_ = 0;
};

absl::Duration Of(time_t sec, time_t usec) {
  return absl::Seconds(sec) + absl::Microseconds(usec);
}

// When the connection the current pool thread serves was accepted (the
// listener enqueues each at once).
thread_local absl::Time accepted_at = absl::InfinitePast();

// httplib's pool, with each job stamped with its enqueue time.
class StampedPool : public httplib::TaskQueue {
 public:
  explicit StampedPool(int threads) : pool_(threads) {}
  void enqueue(std::function<void()> fn) override {
    pool_.enqueue([fn = std::move(fn), at = absl::Now()] {
      accepted_at = at;
      fn();
      accepted_at = absl::InfinitePast();
    });
  }
  void shutdown() override { pool_.shutdown(); }

 private:
  httplib::ThreadPool pool_;
};

}  // namespace

void DeadlineServer::UseThreads(int threads) {
  new_task_queue = [threads] { return new StampedPool(threads); };
}

bool DeadlineServer::process_and_close_socket(socket_t sock) {
  const absl::Time now = absl::Now();
  const absl::Time since =
      accepted_at == absl::InfinitePast() ? now : accepted_at;
  const absl::Time read_deadline =
      std::max(since + budget_.read_request, now + budget_.queued_grace);
  bool ret = false;
  {
    DeadlineStream stream(sock, read_deadline,
                          budget_.write_response,
                          Of(read_timeout_sec_, read_timeout_usec_),
                          Of(write_timeout_sec_, write_timeout_usec_));
    bool connection_closed = false;
    ret = process_request(stream, /*close_connection=*/true,
                          connection_closed, nullptr);
  }
  shutdown(sock, SHUT_RDWR);
  close(sock);
  return ret;
}

}  // namespace taala::admin
