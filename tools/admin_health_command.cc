// health --admin HOST:PORT [--ready]: a GET of taalad's HTTP admin listener
// (/healthz, or /readyz), for probes that can only run a program: the
// container image's HEALTHCHECK has no curl and no shell.

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/endpoint.h"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/exit_codes.h"
#include "tools/text_table.h"

namespace taala::tools {
namespace {

// "h:7071" -> ("h", 7071); "[::1]:7071" -> ("::1", 7071). The port must be
// given (the admin port is not the gRPC port 7070 that endpoints default to).
bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  if (!NormalizeEndpoint(address).ok() || WithDefaultPort(address) != address ||
      absl::StrContains(address, "://") || address.front() == ':') {
    return false;
  }
  const size_t colon = address.rfind(':');
  *host = address.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return !host->empty() && absl::SimpleAtoi(address.substr(colon + 1), port);
}

std::chrono::microseconds ToChrono(absl::Duration d) {
  return std::chrono::microseconds(absl::ToInt64Microseconds(d));
}

// The most of a body kept: the probes answer a few hundred bytes.
constexpr size_t kMaxBody = 64 * 1024;

// Stops `client` (shuts its socket: a blocked read returns) once `timeout`
// has passed, again every 100 ms until Done(): httplib's timeouts bound
// each read, not the whole exchange.
class Watchdog {
 public:
  Watchdog(httplib::Client* client, absl::Duration timeout)
      : thread_([this, client, timeout] {
          std::unique_lock<std::mutex> lock(mu_);
          if (cv_.wait_for(lock, ToChrono(timeout), [this] { return done_; })) {
            return;
          }
          expired_ = true;
          while (!done_) {
            client->stop();
            cv_.wait_for(lock, std::chrono::milliseconds(100));
          }
        }) {}
  ~Watchdog() { Done(); }

  // Ends the watch; true if the time ran out first.
  bool Done() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    return expired_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool expired_ = false;
  std::thread thread_;  // Last: started once the rest is set.
};

}  // namespace

int RunAdminHealth(const Invocation& inv) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(inv.admin, &host, &port)) {
    std::cerr << "taalactl: --admin \"" << TerminalSafe(inv.admin)
              << "\": expected HOST:PORT or [IPV6]:PORT (the admin port, "
                 "7071 by default in taalad)\n";
    return kExitUsage;
  }
  const std::string path = inv.ready ? "/readyz" : "/healthz";
  const std::string url = absl::StrCat("http://", inv.admin, path);
  httplib::Client client(host, port);
  client.set_connection_timeout(ToChrono(inv.timeout));
  client.set_read_timeout(ToChrono(inv.timeout));
  client.set_write_timeout(ToChrono(inv.timeout));
  // The body, up to kMaxBody: a longer (or endless) one is refused.
  std::string body;
  bool too_long = false;
  Watchdog watchdog(&client, inv.timeout);
  httplib::Result result =
      client.Get(path, [&body, &too_long](const char* data, size_t size) {
        too_long = size > kMaxBody - body.size();
        if (!too_long) body.append(data, size);
        return !too_long;
      });
  if (watchdog.Done()) {
    std::cerr << "taalactl: health check at " << TerminalSafe(url) << ": "
              << "no complete answer within --timeout="
              << absl::FormatDuration(inv.timeout) << "\n";
    return kExitUnavailable;
  }
  if (too_long) {
    std::cerr << "taalactl: health check at " << TerminalSafe(url) << ": "
              << "the answer's body is longer than " << kMaxBody
              << " bytes: not taalad's admin listener?\n";
    return kExitUnavailable;
  }
  if (!result) {
    std::cerr << "taalactl: health check at " << TerminalSafe(url) << ": "
              << "no answer (" << httplib::to_string(result.error())
              << " error)\n";
    return kExitUnavailable;
  }
  if (result->status != 200) {
    std::cerr << "taalactl: health check at " << TerminalSafe(url) << ": HTTP "
              << result->status << ": " << TerminalSafe(body) << "\n";
    return kExitUnavailable;
  }
  // The body line by line, each made safe for a terminal.
  std::string out;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    absl::StrAppend(&out, TerminalSafe(line), "\n");
  }
  if (absl::EndsWith(body, "\n")) out.pop_back();
  Print(out);
  return kExitOk;
}

}  // namespace taala::tools
