// health --admin HOST:PORT [--ready]: a GET of taalad's HTTP admin listener
// (/healthz, or /readyz), for probes that can only run a program: the
// container image's HEALTHCHECK has no curl and no shell.

#include <httplib.h>

#include <chrono>
#include <iostream>
#include <string>

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
  httplib::Result result = client.Get(path);
  if (!result) {
    std::cerr << "taalactl: health check at " << TerminalSafe(url) << ": "
              << "no answer (" << httplib::to_string(result.error())
              << " error)\n";
    return kExitUnavailable;
  }
  if (result->status != 200) {
    std::cerr << "taalactl: health check at " << TerminalSafe(url) << ": HTTP "
              << result->status << ": " << TerminalSafe(result->body) << "\n";
    return kExitUnavailable;
  }
  // The body line by line, each made safe for a terminal.
  std::string out;
  for (absl::string_view line : absl::StrSplit(result->body, '\n')) {
    absl::StrAppend(&out, TerminalSafe(line), "\n");
  }
  if (absl::EndsWith(result->body, "\n")) out.pop_back();
  Print(out);
  return kExitOk;
}

}  // namespace taala::tools
