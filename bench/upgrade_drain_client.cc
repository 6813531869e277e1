// upgrade-drain-client: what clients of the C++ client library see while
// taalad restarts (bench/upgrade_drain.sh; docs/deploy.md, "Upgrading with a
// drain").
//
// --clients threads each open their own taala::Client (own channel) and
// session (TTL --ttl, kept alive by the library in the background). The
// first --holders of them also take one key ("upgrade/held/<i>") and keep it
// for the whole run. Every thread then loops try-lock Acquire + Release of
// its own keys ("upgrade/loop/<i>/<n % 4>") until --stop_file exists,
// recording each call's outcome:
//   - a failed call (UNAVAILABLE after the library's retries) opens an
//     outage window at the moment that call was sent;
//   - the next call that succeeds closes it when it returns.
// At the end each thread checks that its session survived (never reported
// lost, same id) and each holder that its key is still held by the same
// session with the same fencing token: an Acquire of it by the same session
// returns the same grant (idempotent per session and key), and a Release
// of the original grant succeeds.
//
// Prints one JSON object on stdout:
//   {"clients":[{"client":i,"session_id":...,"session_ok":true,
//     "held_key":"...","held_token":N,"held_ok":true,"calls":N,
//     "other_errors":N,"first_other_error":"...",
//     "windows":[[start_unix_s,end_unix_s],...]},...]}
// Touches --ready_file once every session exists and every key is held.
// Exit status 0 whatever the figures say (the script judges them); 1 if the
// setup itself failed.

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/lock_client.h"

ABSL_FLAG(std::string, endpoint, "127.0.0.1:7070", "taalad host:port.");
ABSL_FLAG(int32_t, clients, 8, "Client threads, one session each.");
ABSL_FLAG(int32_t, holders, 4, "How many of them hold a key all along.");
ABSL_FLAG(absl::Duration, ttl, absl::Seconds(10), "Session TTL.");
ABSL_FLAG(absl::Duration, pause, absl::Milliseconds(20),
          "Pause between two Acquire+Release pairs of one client.");
ABSL_FLAG(int32_t, max_attempts, 4,
          "The client library's attempts per call (its default: 4).");
ABSL_FLAG(absl::Duration, circuit_open_for, absl::Seconds(1),
          "The client library's circuit breaker: how long it stays open "
          "(its default: 1s).");
ABSL_FLAG(std::string, ready_file, "", "Touched once set up.");
ABSL_FLAG(std::string, stop_file, "", "The clients stop once it exists.");

namespace {

double Now() { return absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()); }

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

struct Result {
  uint64_t session_id = 0;
  bool session_ok = false;
  std::string held_key;
  uint64_t held_token = 0;
  bool held_ok = false;
  int64_t calls = 0;
  int64_t other_errors = 0;
  std::string first_other_error;
  std::vector<std::string> errors;  // The first 20 other errors.
  std::vector<std::pair<double, double>> windows;
  std::string setup_error;
};

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
      continue;
    }
    out += c;
  }
  return out + "\"";
}

class Worker {
 public:
  explicit Worker(int index) : index_(index) {}

  // Connects, opens the session and takes the held key.
  bool Setup() {
    taala::ClientOptions options;
    options.endpoints = {absl::GetFlag(FLAGS_endpoint)};
    options.call_timeout = absl::Seconds(2);
    options.retry.max_attempts = absl::GetFlag(FLAGS_max_attempts);
    options.circuit_breaker.open_for = absl::GetFlag(FLAGS_circuit_open_for);
    auto client = taala::Client::Connect(options);
    if (!client.ok()) return Fail(client.status());
    client_ = std::move(*client);
    taala::SessionOptions so;
    so.ttl = absl::GetFlag(FLAGS_ttl);
    so.client_name = absl::StrCat("upgrade-drain-", index_);
    so.on_lost = [this](const absl::Status&) { lost_ = true; };
    auto session = client_->CreateSession(so);
    if (!session.ok()) return Fail(session.status());
    session_ = std::move(*session);
    r_.session_id = session_->id();
    if (index_ < absl::GetFlag(FLAGS_holders)) {
      r_.held_key = absl::StrCat("upgrade/held/", index_);
      taala::AcquireOptions ao;
      ao.wait = absl::ZeroDuration();
      auto grant = session_->Acquire(r_.held_key, ao);
      if (!grant.ok()) return Fail(grant.status());
      if (!grant->has_value()) {
        return Fail(absl::AbortedError("held key taken by someone else"));
      }
      held_ = **grant;
      r_.held_token = held_->fencing_token;
    }
    return true;
  }

  void Run(const std::string& stop_file) {
    std::optional<double> window_start;
    taala::AcquireOptions ao;
    ao.wait = absl::ZeroDuration();
    for (int64_t n = 0; !Exists(stop_file); ++n) {
      const std::string key = absl::StrCat("upgrade/loop/", index_, "/", n % 4);
      const double sent = Now();
      absl::Status status;
      const char* op = "Acquire";
      auto grant = session_->Acquire(key, ao);
      if (!grant.ok()) {
        status = grant.status();
      } else if (grant->has_value()) {
        op = "Release";
        status = session_->Release(**grant);
      } else {
        status = absl::AbortedError("loop key held by someone else");
      }
      ++r_.calls;
      if (status.ok()) {
        if (window_start) {
          r_.windows.push_back({*window_start, Now()});
          window_start.reset();
        }
      } else if (absl::IsUnavailable(status)) {
        if (!window_start) window_start = sent;
      } else {
        if (r_.other_errors++ < 20) {
          r_.errors.push_back(absl::StrFormat("%s sent at %.3f: %s", op, sent,
                                              status.ToString()));
        }
      }
      absl::SleepFor(absl::GetFlag(FLAGS_pause));
    }
    if (window_start) r_.windows.push_back({*window_start, -1});
    if (!r_.errors.empty()) r_.first_other_error = r_.errors.front();
  }

  // The session and the held key survived every restart.
  void Verify() {
    r_.session_ok =
        !lost_ && !session_->lost() && session_->id() == r_.session_id;
    if (!held_) return;
    taala::AcquireOptions ao;
    ao.wait = absl::ZeroDuration();
    auto again = session_->Acquire(r_.held_key, ao);
    bool same = again.ok() && again->has_value() &&
                (*again)->fencing_token == held_->fencing_token &&
                (*again)->session_id == r_.session_id;
    if (!same && r_.other_errors++ == 0) {
      r_.first_other_error =
          again.ok() ? "held key not granted again with the same token"
                     : again.status().ToString();
    }
    absl::Status released = session_->Release(*held_);
    if (!released.ok() && r_.other_errors++ == 0) {
      r_.first_other_error = released.ToString();
    }
    r_.held_ok = same && released.ok();
  }

  void Close() {
    if (session_) (void)session_->Close();
    session_.reset();
    client_.reset();
  }

  const Result& result() const { return r_; }

 private:
  bool Fail(const absl::Status& s) {
    r_.setup_error = s.ToString();
    return false;
  }

  const int index_;
  std::unique_ptr<taala::Client> client_;
  std::unique_ptr<taala::Session> session_;
  std::optional<taala::LockGrant> held_;
  std::atomic<bool> lost_{false};
  Result r_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Clients holding sessions and keys through taalad restarts; see "
      "bench/upgrade_drain.sh.");
  absl::ParseCommandLine(argc, argv);
  const int n = absl::GetFlag(FLAGS_clients);
  const std::string stop_file = absl::GetFlag(FLAGS_stop_file);
  if (stop_file.empty()) {
    std::fprintf(stderr, "--stop_file is required\n");
    return 1;
  }
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < n; ++i) {
    workers.push_back(std::make_unique<Worker>(i));
    if (!workers.back()->Setup()) {
      std::fprintf(stderr, "client %d: setup failed: %s\n", i,
                   workers.back()->result().setup_error.c_str());
      return 1;
    }
  }
  if (!absl::GetFlag(FLAGS_ready_file).empty()) {
    std::ofstream(absl::GetFlag(FLAGS_ready_file)) << "ready\n";
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&w, &stop_file] { w->Run(stop_file); });
  }
  for (auto& t : threads) t.join();
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    workers[i]->Verify();
    const Result& r = workers[i]->result();
    std::vector<std::string> windows, errors;
    for (const std::string& e : r.errors) errors.push_back(Quote(e));
    for (const auto& [a, b] : r.windows) {
      windows.push_back(absl::StrCat("[", absl::StrFormat("%.3f", a), ",",
                                     absl::StrFormat("%.3f", b), "]"));
    }
    out.push_back(absl::StrCat(
        "{\"client\":", i, ",\"session_id\":", r.session_id,
        ",\"session_ok\":", r.session_ok ? "true" : "false",
        ",\"held_key\":", Quote(r.held_key), ",\"held_token\":", r.held_token,
        ",\"held_ok\":", r.held_ok ? "true" : "false", ",\"calls\":", r.calls,
        ",\"other_errors\":", r.other_errors, ",\"first_other_error\":",
        Quote(r.first_other_error), ",\"errors\":[", absl::StrJoin(errors, ","),
        "],\"windows\":[", absl::StrJoin(windows, ","), "]}"));
  }
  for (auto& w : workers) w->Close();
  std::printf("{\"clients\":[%s]}\n", absl::StrJoin(out, ",").c_str());
  return 0;
}
