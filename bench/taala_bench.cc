// taala-bench: uncontended Acquire+Release throughput and latency of taala
// against a no-op gRPC server with the same API (the physical limit).
//
// For each client count (--clients) it runs, alternately, two backends:
//   taala  the real LockServiceImpl over a LockTable (default options, the
//          real clock, a TimerLoop), served in this process on a loopback
//          port; or an external taalad with --endpoint=host:port.
//   noop   NoopLockService (bench/noop_lock_service.h), in this process.
// Every client has its own channel, thread, sync stub, session (TTL 60s) and
// key, and loops Acquire(key, try-lock) + Release(key, token). A pair's
// latency runs from before the Acquire to after the Release. After
// --warmup, the pairs started during --duration are counted; pairs/s is
// their number divided by --duration. --repeat N alternates the backends N
// times (swapping which goes first) and reports each metric's median.
//
// Any failed call or Acquire that does not return ACQUIRED is an error; the
// program then exits with status 1.

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "bench/noop_lock_service.h"
#include "bench/stats.h"
#include "server/core/clock.h"
#include "server/rpc/timer_loop.h"
#include "server/rpc/lock_service.h"
#include "server/core/lock_table.h"
#include "taala/v1/lock_service.grpc.pb.h"

ABSL_FLAG(std::vector<std::string>, clients,
          std::vector<std::string>({"1", "16", "64"}),
          "Comma-separated numbers of concurrent clients to measure.");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(1),
          "Unmeasured run time before each measurement.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(3),
          "Measured run time per (backend, client count, repetition).");
ABSL_FLAG(int32_t, repeat, 1,
          "Alternate the backends this many times per client count and "
          "report the median of each metric.");
ABSL_FLAG(std::vector<std::string>, backends,
          std::vector<std::string>({"taala", "noop"}),
          "Backends to measure, among taala and noop.");
ABSL_FLAG(bool, stats, true,
          "The in-process taala table keeps statistics (taalad --stats); "
          "false measures what they cost.");
ABSL_FLAG(std::string, endpoint, "",
          "If set (host:port), the taala backend is this running taalad "
          "instead of an in-process server. noop stays in-process.");
ABSL_FLAG(std::string, key_layout, "spread",
          "spread: client i locks \"c<i>/bench\" (first segments differ, so "
          "clients mostly land in different shards). one_shard: "
          "\"bench/c<i>\" (one first segment: every client in one shard). "
          "beside_waiters: \"waiters/c<i>\", in the shard of the key that "
          "--scenario=waiters queues on (run both against one --endpoint to "
          "time uncontended pairs beside its cycle searches).");
ABSL_FLAG(int32_t, key_depth, 0,
          "0: the --key_layout key above. N >= 1: a key of N '/'-separated "
          "segments: spread \"c<i>\", \"c<i>/a\", ... \"c<i>/a/b/c\" "
          "(N=4); one_shard \"bench/c<i>\" then \"/a\", \"/b\"... "
          "(N >= 2). The first segment stays distinct per client (spread).");
ABSL_FLAG(absl::Duration, rpc_timeout, absl::Seconds(10),
          "Deadline of every RPC; a call that misses it is an error.");
ABSL_FLAG(bool, mutex_deadlock_detection, false,
          "true: keep Abseil's Mutex deadlock detection on in this process, "
          "as Debian's libabsl (built without NDEBUG) has it by default. "
          "taalad turns it off unless --check_lock_order, so the default here "
          "matches the daemon. It is process-wide: it applies to gRPC and "
          "both backends.");
ABSL_FLAG(std::string, scenario, "pairs",
          "pairs: uncontended Acquire+Release pairs (above). waiters: park "
          "--waiters async Acquires on one held key, then time single "
          "Acquires on that key (see --waiters; taala backend only).");
ABSL_FLAG(std::vector<std::string>, waiters,
          std::vector<std::string>({"0", "1000"}),
          "--scenario=waiters: comma-separated queue lengths to measure "
          "(each in its own phase, alternating with --repeat).");
ABSL_FLAG(int32_t, waiter_timeout_ms, 1,
          "--scenario=waiters: wait_timeout_ms of the measured Acquires that "
          "queue (they time out: the key stays held).");
ABSL_FLAG(std::string, tls_ca, "",
          "With --endpoint: connect over TLS, trusting this CA certificate "
          "file (PEM); the server name checked is the endpoint's host.");
ABSL_FLAG(std::string, tls_cert, "",
          "With --tls_ca: this client certificate file (PEM) for mutual TLS.");
ABSL_FLAG(std::string, tls_key, "",
          "With --tls_cert: its private key file (PEM).");
ABSL_FLAG(std::string, csv, "", "If set, write the result rows as CSV here.");
ABSL_FLAG(std::string, json, "", "If set, write the results as JSON here.");

namespace taala::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int64_t kSessionTtlMs = 60000;

struct Config {
  std::vector<int> client_counts;
  absl::Duration warmup;
  absl::Duration duration;
  int repeat = 1;
  std::vector<std::string> backends;
  std::string endpoint;
  bool one_shard = false;
  std::string one_shard_segment = "bench";  // beside_waiters: "waiters".
  int key_depth = 0;  // 0: the legacy layouts.
  absl::Duration rpc_timeout;
  std::vector<int> waiter_counts;  // --scenario=waiters.
  int waiter_timeout_ms = 1;
};

// What one client thread measured.
struct ClientResult {
  std::vector<int64_t> latencies_ns;  // Pairs started in the window.
  int64_t errors = 0;
  std::string first_error;
  size_t acquire_response_bytes = 0;  // Of the last ACQUIRED response.

  void AddError(absl::string_view what) {
    if (errors++ == 0) first_error = std::string(what);
  }
};

// One (backend, client count) measurement.
struct RunResult {
  double pairs_per_sec = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  int64_t errors = 0;
  std::string first_error;
  double cpu_us_per_pair = -1;  // Process CPU time; -1 when not meaningful.
  size_t acquire_response_bytes = 0;
};

// Shared between the coordinator and the client threads of one run. The
// window is written before `start` is notified and only read after.
struct RunControl {
  explicit RunControl(int clients) : ready(clients) {}
  absl::BlockingCounter ready;
  absl::Notification start;
  SteadyClock::time_point measure_start;
  SteadyClock::time_point measure_end;
};

std::string KeyFor(int index, const Config& config) {
  if (config.key_depth == 0) {
    return config.one_shard
               ? absl::StrCat(config.one_shard_segment, "/c", index)
               : absl::StrCat("c", index, "/bench");
  }
  std::string key = config.one_shard
                        ? absl::StrCat(config.one_shard_segment, "/c", index)
                        : absl::StrCat("c", index);
  int depth = config.one_shard ? 2 : 1;
  for (char c = 'a'; depth < config.key_depth; ++c, ++depth) {
    absl::StrAppend(&key, "/", std::string(1, c));
  }
  return key;
}

std::string StatusText(absl::string_view rpc, const grpc::Status& s) {
  return absl::StrCat(rpc, ": code ", static_cast<int>(s.error_code()), " ",
                      s.error_message());
}

void SetDeadline(grpc::ClientContext& ctx, absl::Duration timeout) {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   absl::ToChronoMicroseconds(timeout));
}

void ClientLoop(int index, const std::shared_ptr<grpc::Channel>& channel,
                const Config& config, RunControl* control,
                ClientResult* out) {
  std::unique_ptr<v1::LockService::Stub> stub =
      v1::LockService::NewStub(channel);
  uint64_t session_id = 0;
  {
    v1::CreateSessionRequest req;
    req.set_ttl_ms(kSessionTtlMs);
    req.set_client_name(absl::StrCat("taala-bench/c", index));
    v1::CreateSessionResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, config.rpc_timeout);
    const grpc::Status s = stub->CreateSession(&ctx, req, &resp);
    if (s.ok()) {
      session_id = resp.session_id();
    } else {
      out->AddError(StatusText("CreateSession", s));
    }
  }
  control->ready.DecrementCount();
  control->start.WaitForNotification();
  if (session_id == 0) return;

  const std::string key = KeyFor(index, config);
  v1::AcquireRequest acquire;
  acquire.set_session_id(session_id);
  acquire.set_key(key);
  acquire.set_mode(v1::LOCK_MODE_EXCLUSIVE);
  acquire.set_wait_timeout_ms(0);
  v1::AcquireResponse acquired;
  v1::ReleaseRequest release;
  release.set_session_id(session_id);
  release.set_key(key);
  v1::ReleaseResponse released;
  const SteadyClock::time_point measure_start = control->measure_start;
  const SteadyClock::time_point measure_end = control->measure_end;
  out->latencies_ns.reserve(1 << 16);

  while (true) {
    const SteadyClock::time_point t0 = SteadyClock::now();
    if (t0 >= measure_end) break;
    {
      grpc::ClientContext ctx;
      SetDeadline(ctx, config.rpc_timeout);
      const grpc::Status s = stub->Acquire(&ctx, acquire, &acquired);
      if (!s.ok()) {
        out->AddError(StatusText("Acquire", s));
        continue;
      }
      if (acquired.result() != v1::AcquireResponse::ACQUIRED ||
          acquired.grant().key() != key ||
          acquired.grant().session_id() != session_id) {
        out->AddError(absl::StrCat("Acquire: unexpected response ",
                                   acquired.ShortDebugString()));
        continue;
      }
    }
    {
      release.set_fencing_token(acquired.grant().fencing_token());
      grpc::ClientContext ctx;
      SetDeadline(ctx, config.rpc_timeout);
      const grpc::Status s = stub->Release(&ctx, release, &released);
      if (!s.ok()) {
        out->AddError(StatusText("Release", s));
        continue;
      }
    }
    const SteadyClock::time_point t1 = SteadyClock::now();
    if (t0 >= measure_start) {
      out->latencies_ns.push_back(
          std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0)
              .count());
    }
  }
  out->acquire_response_bytes = acquired.ByteSizeLong();

  v1::CloseSessionRequest req;
  req.set_session_id(session_id);
  v1::CloseSessionResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(ctx, config.rpc_timeout);
  const grpc::Status s = stub->CloseSession(&ctx, req, &resp);
  if (!s.ok()) out->AddError(StatusText("CloseSession", s));
}

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) +
           static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The channel credentials of every bench client: TLS with --tls_ca,
// plaintext otherwise.
std::shared_ptr<grpc::ChannelCredentials> BenchCredentials() {
  const std::string ca_file = absl::GetFlag(FLAGS_tls_ca);
  if (ca_file.empty()) return grpc::InsecureChannelCredentials();
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)),
                       std::istreambuf_iterator<char>());
  };
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = read(ca_file);
  if (const std::string cert = absl::GetFlag(FLAGS_tls_cert); !cert.empty()) {
    options.pem_cert_chain = read(cert);
    options.pem_private_key = read(absl::GetFlag(FLAGS_tls_key));
  }
  return grpc::SslCredentials(options);
}

RunResult RunOnce(const std::string& target, int clients, int run_id,
                  bool cpu_meaningful, const Config& config) {
  RunResult result;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < clients; ++i) {
    // Distinct arguments: each client gets its own subchannel (connection)
    // instead of sharing one through the global subchannel pool.
    grpc::ChannelArguments args;
    args.SetInt("taala.bench.channel", i);
    args.SetInt("taala.bench.run", run_id);
    channels.push_back(
        grpc::CreateCustomChannel(target, BenchCredentials(), args));
  }
  for (int i = 0; i < clients; ++i) {
    const auto deadline =
        std::chrono::system_clock::now() + std::chrono::seconds(10);
    if (!channels[static_cast<size_t>(i)]->WaitForConnected(deadline)) {
      result.errors = 1;
      result.first_error = absl::StrCat("channel ", i, " to ", target,
                                        " did not connect within 10s");
      return result;
    }
  }

  RunControl control(clients);
  std::vector<ClientResult> client_results(static_cast<size_t>(clients));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(clients));
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back(ClientLoop, i,
                         std::cref(channels[static_cast<size_t>(i)]),
                         std::cref(config), &control,
                         &client_results[static_cast<size_t>(i)]);
  }
  control.ready.Wait();  // Every session exists (or failed).
  const SteadyClock::time_point begin = SteadyClock::now();
  control.measure_start = begin + absl::ToChronoNanoseconds(config.warmup);
  control.measure_end =
      control.measure_start + absl::ToChronoNanoseconds(config.duration);
  control.start.Notify();
  std::this_thread::sleep_until(control.measure_start);
  const double cpu_start = ProcessCpuSeconds();
  std::this_thread::sleep_until(control.measure_end);
  const double cpu_end = ProcessCpuSeconds();
  for (std::thread& t : threads) t.join();

  std::vector<int64_t> all;
  for (ClientResult& c : client_results) {
    all.insert(all.end(), c.latencies_ns.begin(), c.latencies_ns.end());
    if (c.errors > 0 && result.errors == 0) result.first_error = c.first_error;
    result.errors += c.errors;
    result.acquire_response_bytes =
        std::max(result.acquire_response_bytes, c.acquire_response_bytes);
  }
  std::sort(all.begin(), all.end());
  result.pairs_per_sec = static_cast<double>(all.size()) /
                         absl::ToDoubleSeconds(config.duration);
  result.p50_us = static_cast<double>(Percentile(all, 50)) / 1e3;
  result.p99_us = static_cast<double>(Percentile(all, 99)) / 1e3;
  result.p999_us = static_cast<double>(Percentile(all, 99.9)) / 1e3;
  if (cpu_meaningful && !all.empty()) {
    result.cpu_us_per_pair =
        (cpu_end - cpu_start) * 1e6 / static_cast<double>(all.size());
  }
  return result;
}

// The median of each metric over repetitions; errors add up.
RunResult MedianOf(const std::vector<RunResult>& runs) {
  RunResult m;
  auto median = [&runs](double RunResult::*field) {
    std::vector<double> v;
    for (const RunResult& r : runs) v.push_back(r.*field);
    return Median(std::move(v));
  };
  m.pairs_per_sec = median(&RunResult::pairs_per_sec);
  m.p50_us = median(&RunResult::p50_us);
  m.p99_us = median(&RunResult::p99_us);
  m.p999_us = median(&RunResult::p999_us);
  m.cpu_us_per_pair = median(&RunResult::cpu_us_per_pair);
  for (const RunResult& r : runs) {
    if (r.errors > 0 && m.errors == 0) m.first_error = r.first_error;
    m.errors += r.errors;
    m.acquire_response_bytes =
        std::max(m.acquire_response_bytes, r.acquire_response_bytes);
  }
  return m;
}

int Nproc() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        size_t start = line.find_first_not_of(' ', colon + 1);
        return start == std::string::npos ? "" : line.substr(start);
      }
    }
  }
  return "unknown";
}

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<int>(c));
        } else {
          out += c;
        }
    }
  }
  out += "\"";
  return out;
}

struct Row {
  std::string backend;
  int clients = 0;
  RunResult result;
};

// taala pairs/s over noop pairs/s for one client count.
struct Ratio {
  double of_medians = 0;  // median(taala) / median(noop).
  // Over the repetitions, each taala run against the noop run next to it
  // (robust to the machine's speed drifting between repetitions).
  double median_paired = 0;
  double min_paired = 0;
  double max_paired = 0;
};

bool WriteCsv(const std::string& path, const std::vector<Row>& rows) {
  std::ofstream out(path, std::ios::trunc);
  out << "backend,clients,pairs_per_sec,p50_us,p99_us,p999_us,errors\n";
  for (const Row& r : rows) {
    out << absl::StrFormat("%s,%d,%.1f,%.1f,%.1f,%.1f,%d\n", r.backend,
                           r.clients, r.result.pairs_per_sec, r.result.p50_us,
                           r.result.p99_us, r.result.p999_us, r.result.errors);
  }
  return out.good();
}

bool WriteJson(const std::string& path, const std::vector<Row>& rows,
               const std::map<int, Ratio>& ratios,
               const std::vector<std::string>& args, const Config& config) {
  std::ofstream out(path, std::ios::trunc);
  std::vector<std::string> quoted_args;
  for (const std::string& a : args) quoted_args.push_back(JsonString(a));
  out << "{\n";
  out << "  \"nproc\": " << Nproc() << ",\n";
  out << "  \"cpu_model\": " << JsonString(CpuModel()) << ",\n";
  out << "  \"args\": [" << absl::StrJoin(quoted_args, ", ") << "],\n";
  out << absl::StrFormat(
      "  \"warmup_s\": %g,\n  \"duration_s\": %g,\n  \"repeat\": %d,\n",
      absl::ToDoubleSeconds(config.warmup),
      absl::ToDoubleSeconds(config.duration), config.repeat);
  out << "  \"endpoint\": " << JsonString(config.endpoint) << ",\n";
  out << "  \"key_layout\": \"" << (config.one_shard ? "one_shard" : "spread")
      << "\",\n";
  out << "  \"key_depth\": " << config.key_depth << ",\n";
  out << "  \"key_of_client_0\": " << JsonString(KeyFor(0, config)) << ",\n";
  out << "  \"rows\": [\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    out << absl::StrFormat(
        "    {\"backend\": %s, \"clients\": %d, \"pairs_per_sec\": %.1f, "
        "\"p50_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f, "
        "\"cpu_us_per_pair\": %.1f, \"errors\": %d}%s\n",
        JsonString(r.backend), r.clients, r.result.pairs_per_sec,
        r.result.p50_us, r.result.p99_us, r.result.p999_us,
        r.result.cpu_us_per_pair, r.result.errors,
        i + 1 < rows.size() ? "," : "");
  }
  out << "  ],\n";
  // Per client count: median(taala) / median(noop) pairs/s, and the
  // median, min and max of the per-repetition ratios.
  out << "  \"taala_over_noop_pairs_per_sec\": {";
  std::vector<std::string> parts;
  for (const auto& [clients, ratio] : ratios) {
    parts.push_back(absl::StrFormat(
        "\"%d\": {\"of_medians\": %.3f, \"median_paired\": %.3f, "
        "\"min_paired\": %.3f, \"max_paired\": %.3f}",
        clients, ratio.of_medians, ratio.median_paired, ratio.min_paired,
        ratio.max_paired));
  }
  out << absl::StrJoin(parts, ", ") << "}\n";
  out << "}\n";
  return out.good();
}

std::string CpuText(double cpu_us_per_pair) {
  return cpu_us_per_pair < 0 ? std::string("-")
                             : absl::StrFormat("%.1f", cpu_us_per_pair);
}

// --scenario=waiters -----------------------------------------------------
//
// One phase per (repetition, queue length n): a holder session takes
// kWaitKey; n sessions each park an Acquire on it with an infinite wait
// (async, callback API, spread over one channel per 100 calls); then one
// client thread times, one op after another, for --warmup unmeasured and
// --duration measured each:
//   trylock        Acquire(kWaitKey, wait_timeout_ms=0) by a session that
//                  holds nothing: answered at once, never queues.
//   queued         Acquire(kWaitKey, wait_timeout_ms=--waiter_timeout_ms) by
//                  the same session: joins the back of the queue (the
//                  wait-for graph's no-cycle fast path), times out, leaves.
//   queued_search  the same by a second session that holds kOtherKey, on
//                  which one more session waits: the server's wait-for graph
//                  then searches for a cycle through every holder and waiter
//                  ahead (server/core/wait_for_graph.cc CycleThrough).
// Each must return OK with TIMED_OUT; anything else is an error, as is a
// parked call that ends before the phase does or a queue that is not n long
// at the end. Then the parked calls are cancelled and every session closed.

constexpr char kWaitKey[] = "waiters/key";
constexpr char kOtherKey[] = "waiters-other/key";
constexpr int kWaitersPerChannel = 100;

const char* const kWaiterOps[] = {"trylock", "queued", "queued_search"};

struct ParkedCall {
  grpc::ClientContext ctx;
  v1::AcquireRequest req;
  v1::AcquireResponse resp;
  grpc::Status status;
};

// Counts finished parked calls.
struct ParkedDone {
  absl::Mutex mu;
  int done ABSL_GUARDED_BY(mu) = 0;
  void Add() {
    absl::MutexLock lock(&mu);
    ++done;
  }
  int Count() {
    absl::MutexLock lock(&mu);
    return done;
  }
  bool AwaitCount(int n, absl::Duration timeout) {
    absl::MutexLock lock(&mu);
    auto reached = [this, n]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return done >= n; };
    return mu.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }
};

// One (queue length, op) measurement.
struct OpResult {
  double ops_per_sec = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  // Process CPU time (client, in-process server and its timer loop) per op;
  // -1 with --endpoint.
  double cpu_us_per_op = -1;
  int64_t errors = 0;
  std::string first_error;
};

class WaitersPhase {
 public:
  WaitersPhase(const std::string& target, int waiters, int run_id,
               const Config& config)
      : target_(target), waiters_(waiters), run_id_(run_id), config_(config) {}

  ~WaitersPhase() { Teardown(); }

  // Sessions, the holder, the parked calls. False (with error()) on failure.
  bool Setup() {
    control_ = NewChannel(0);
    stub_ = v1::LockService::NewStub(control_);
    // Sessions must outlive the phase: 3 ops, slack for setup/teardown.
    const absl::Duration phase = 3 * (config_.warmup + config_.duration);
    ttl_ms_ = absl::ToInt64Milliseconds(phase) + 60000;
    deadline_ = std::chrono::system_clock::now() +
                absl::ToChronoMilliseconds(absl::Milliseconds(ttl_ms_));
    holder_ = NewSession("holder");
    plain_ = NewSession("measured");
    searching_ = NewSession("measured-search");
    other_ = NewSession("other-waiter");
    if (!error_.empty()) return false;
    if (!TakeKey(holder_, kWaitKey) || !TakeKey(searching_, kOtherKey)) {
      return false;
    }
    const int channels =
        (waiters_ + kWaitersPerChannel - 1) / kWaitersPerChannel;
    for (int c = 0; c < channels; ++c) {
      waiter_channels_.push_back(NewChannel(c + 1));
      waiter_stubs_.push_back(
          v1::LockService::NewStub(waiter_channels_.back()));
    }
    Park(*stub_, other_, kOtherKey);
    for (int i = 0; i < waiters_ && error_.empty(); ++i) {
      const uint64_t s = NewSession(absl::StrCat("waiter", i));
      if (s == 0) break;
      Park(*waiter_stubs_[static_cast<size_t>(i / kWaitersPerChannel)], s,
           kWaitKey);
    }
    if (!error_.empty()) return false;
    // Until the server has queued them all.
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (true) {
      const int queued = QueueLength(kWaitKey);
      const int other = QueueLength(kOtherKey);
      if (queued < 0 || other < 0) return false;
      if (queued == waiters_ && other == 1) break;
      if (absl::Now() > give_up || parked_done_.Count() > 0) {
        error_ =
            absl::StrCat("only ", queued, " of ", waiters_, " waiters (and ",
                         other, " of 1 on the other key) queued; ",
                         parked_done_.Count(), " parked calls ended");
        return false;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return true;
  }

  OpResult Measure(absl::string_view op) {
    OpResult result;
    const bool trylock = op == "trylock";
    v1::AcquireRequest req;
    req.set_session_id(op == "queued_search" ? searching_ : plain_);
    req.set_key(kWaitKey);
    req.set_mode(v1::LOCK_MODE_EXCLUSIVE);
    req.set_wait_timeout_ms(trylock ? 0 : config_.waiter_timeout_ms);
    v1::AcquireResponse resp;
    std::vector<int64_t> latencies;
    latencies.reserve(1 << 14);
    double cpu_start = -1;
    const SteadyClock::time_point start = SteadyClock::now();
    const SteadyClock::time_point measure_start =
        start + absl::ToChronoNanoseconds(config_.warmup);
    const SteadyClock::time_point measure_end =
        measure_start + absl::ToChronoNanoseconds(config_.duration);
    while (true) {
      const SteadyClock::time_point t0 = SteadyClock::now();
      if (t0 >= measure_end) break;
      if (cpu_start < 0 && t0 >= measure_start) {
        cpu_start = ProcessCpuSeconds();
      }
      grpc::ClientContext ctx;
      SetDeadline(ctx, config_.rpc_timeout);
      const grpc::Status s = stub_->Acquire(&ctx, req, &resp);
      const SteadyClock::time_point t1 = SteadyClock::now();
      if (!s.ok() || resp.result() != v1::AcquireResponse::TIMED_OUT) {
        if (result.errors++ == 0) {
          result.first_error =
              s.ok() ? absl::StrCat(op, ": unexpected response ",
                                    resp.ShortDebugString())
                     : StatusText(absl::StrCat(op, " Acquire"), s);
        }
        continue;
      }
      if (t0 >= measure_start) {
        latencies.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0)
                .count());
      }
    }
    const double cpu_end = ProcessCpuSeconds();
    if (config_.endpoint.empty() && cpu_start >= 0 && !latencies.empty()) {
      result.cpu_us_per_op = (cpu_end - cpu_start) * 1e6 /
                             static_cast<double>(latencies.size());
    }
    std::sort(latencies.begin(), latencies.end());
    result.ops_per_sec = static_cast<double>(latencies.size()) /
                         absl::ToDoubleSeconds(config_.duration);
    result.p50_us = static_cast<double>(Percentile(latencies, 50)) / 1e3;
    result.p99_us = static_cast<double>(Percentile(latencies, 99)) / 1e3;
    result.p999_us = static_cast<double>(Percentile(latencies, 99.9)) / 1e3;
    return result;
  }

  // After the ops: the queue must still be intact. False with error().
  bool CheckIntact() {
    const int ended = parked_done_.Count();
    const int queued = QueueLength(kWaitKey);
    if (ended > 0 || queued != waiters_) {
      if (error_.empty()) {
        error_ = absl::StrCat(ended, " parked calls ended early; queue ",
                              queued, " long, expected ", waiters_);
      }
      return false;
    }
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  std::shared_ptr<grpc::Channel> NewChannel(int index) {
    grpc::ChannelArguments args;
    args.SetInt("taala.bench.channel", index);
    args.SetInt("taala.bench.run", run_id_);
    return grpc::CreateCustomChannel(target_, BenchCredentials(), args);
  }

  uint64_t NewSession(const std::string& name) {
    v1::CreateSessionRequest req;
    req.set_ttl_ms(ttl_ms_);
    req.set_client_name(absl::StrCat("taala-bench/", name));
    v1::CreateSessionResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, config_.rpc_timeout);
    const grpc::Status s = stub_->CreateSession(&ctx, req, &resp);
    if (!s.ok()) {
      if (error_.empty()) error_ = StatusText("CreateSession", s);
      return 0;
    }
    if (resp.ttl_ms() < ttl_ms_ && error_.empty()) {
      error_ = absl::StrCat("the server clamped the session TTL to ",
                            resp.ttl_ms(), "ms; the phase needs ", ttl_ms_,
                            "ms (shorten --warmup/--duration)");
    }
    sessions_.push_back(resp.session_id());
    return resp.session_id();
  }

  bool TakeKey(uint64_t session, const char* key) {
    v1::AcquireRequest req;
    req.set_session_id(session);
    req.set_key(key);
    req.set_mode(v1::LOCK_MODE_EXCLUSIVE);
    v1::AcquireResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, config_.rpc_timeout);
    const grpc::Status s = stub_->Acquire(&ctx, req, &resp);
    if (!s.ok() || resp.result() != v1::AcquireResponse::ACQUIRED) {
      error_ = s.ok() ? absl::StrCat("key ", key,
                                     " is not free: ", resp.ShortDebugString())
                      : StatusText("Acquire", s);
      return false;
    }
    return true;
  }

  void Park(v1::LockService::Stub& stub, uint64_t session, const char* key) {
    auto call = std::make_unique<ParkedCall>();
    call->ctx.set_deadline(deadline_);
    call->req.set_session_id(session);
    call->req.set_key(key);
    call->req.set_mode(v1::LOCK_MODE_EXCLUSIVE);
    call->req.set_wait_timeout_ms(-1);  // Until granted or cancelled.
    ParkedCall* raw = call.get();
    parked_.push_back(std::move(call));
    stub.async()->Acquire(&raw->ctx, &raw->req, &raw->resp,
                          [this, raw](grpc::Status s) {
                            raw->status = std::move(s);
                            parked_done_.Add();
                          });
  }

  // The key's queue length, or -1 (with error()).
  int QueueLength(const char* key) {
    v1::DescribeLockRequest req;
    req.set_key(key);
    req.set_max_waiters(1);
    v1::DescribeLockResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, config_.rpc_timeout);
    const grpc::Status s = stub_->DescribeLock(&ctx, req, &resp);
    if (!s.ok()) {
      if (error_.empty()) error_ = StatusText("DescribeLock", s);
      return -1;
    }
    return static_cast<int>(resp.waiter_count());
  }

  void Teardown() {
    if (stub_ == nullptr) return;  // Setup never ran.
    for (auto& call : parked_) call->ctx.TryCancel();
    if (!parked_done_.AwaitCount(static_cast<int>(parked_.size()),
                                 absl::Seconds(30))) {
      std::fprintf(stderr, "parked calls did not end within 30s; aborting\n");
      std::abort();  // Their callbacks would outlive this object.
    }
    for (uint64_t session : sessions_) {
      v1::CloseSessionRequest req;
      req.set_session_id(session);
      v1::CloseSessionResponse resp;
      grpc::ClientContext ctx;
      SetDeadline(ctx, config_.rpc_timeout);
      (void)stub_->CloseSession(&ctx, req, &resp);
    }
    parked_.clear();
    sessions_.clear();
  }

  const std::string target_;
  const int waiters_;
  const int run_id_;
  const Config& config_;
  int64_t ttl_ms_ = kSessionTtlMs;
  std::chrono::system_clock::time_point deadline_;
  std::shared_ptr<grpc::Channel> control_;
  std::unique_ptr<v1::LockService::Stub> stub_;
  std::vector<std::shared_ptr<grpc::Channel>> waiter_channels_;
  std::vector<std::unique_ptr<v1::LockService::Stub>> waiter_stubs_;
  std::vector<uint64_t> sessions_;
  uint64_t holder_ = 0;
  uint64_t plain_ = 0;
  uint64_t searching_ = 0;
  uint64_t other_ = 0;
  std::vector<std::unique_ptr<ParkedCall>> parked_;
  ParkedDone parked_done_;
  std::string error_;
};

int RunWaiters(const std::string& target, const Config& config,
               const std::vector<std::string>& args) {
  std::map<std::pair<int, std::string>, std::vector<OpResult>> results;
  int64_t total_errors = 0;
  int run_id = 1000;
  for (int r = 0; r < config.repeat; ++r) {
    std::vector<int> order = config.waiter_counts;
    if (r % 2 == 1) std::reverse(order.begin(), order.end());
    for (int waiters : order) {
      WaitersPhase phase(target, waiters, ++run_id, config);
      const absl::Time setup_start = absl::Now();
      if (!phase.Setup()) {
        std::printf("  [waiters %d, run %d/%d] setup failed: %s\n", waiters,
                    r + 1, config.repeat, phase.error().c_str());
        return 1;
      }
      std::printf("  [waiters %d, run %d/%d] parked in %.2fs\n", waiters, r + 1,
                  config.repeat,
                  absl::ToDoubleSeconds(absl::Now() - setup_start));
      for (const char* op : kWaiterOps) {
        OpResult res = phase.Measure(op);
        std::printf(
            "  [waiters %d, run %d/%d] %-13s %8.0f ops/s  p50 %8.1fus  "
            "p99 %8.1fus  p999 %8.1fus  cpu %sus/op  errors %lld%s%s\n",
            waiters, r + 1, config.repeat, op, res.ops_per_sec, res.p50_us,
            res.p99_us, res.p999_us, CpuText(res.cpu_us_per_op).c_str(),
            static_cast<long long>(res.errors),
            res.errors > 0 ? "  first: " : "", res.first_error.c_str());
        std::fflush(stdout);
        results[{waiters, op}].push_back(std::move(res));
      }
      if (!phase.CheckIntact()) {
        std::printf("  [waiters %d, run %d/%d] FAILED: %s\n", waiters, r + 1,
                    config.repeat, phase.error().c_str());
        ++total_errors;
      }
    }
  }

  std::printf(
      "\nResults (median of %d run%s; latency of one Acquire on a "
      "key held by another session with the given queue, "
      "microseconds; queued ops include the %dms wait timeout, which also "
      "hides any enqueue cost below it: see cpu = process CPU per op, "
      "client and in-process server together)\n",
      config.repeat, config.repeat == 1 ? "" : "s", config.waiter_timeout_ms);
  std::printf("  %8s %-13s %10s %9s %9s %9s %10s %7s\n", "waiters", "op",
              "ops/s", "p50_us", "p99_us", "p999_us", "cpu_us/op", "errors");
  struct WaiterRow {
    int waiters;
    std::string op;
    OpResult m;
  };
  std::vector<WaiterRow> rows;
  for (int waiters : config.waiter_counts) {
    for (const char* op : kWaiterOps) {
      const std::vector<OpResult>& runs = results[{waiters, op}];
      auto median = [&runs](double OpResult::*field) {
        std::vector<double> v;
        for (const OpResult& r : runs) v.push_back(r.*field);
        return Median(std::move(v));
      };
      OpResult m;
      m.ops_per_sec = median(&OpResult::ops_per_sec);
      m.p50_us = median(&OpResult::p50_us);
      m.p99_us = median(&OpResult::p99_us);
      m.p999_us = median(&OpResult::p999_us);
      m.cpu_us_per_op = median(&OpResult::cpu_us_per_op);
      for (const OpResult& r : runs) m.errors += r.errors;
      total_errors += m.errors;
      std::printf("  %8d %-13s %10.0f %9.1f %9.1f %9.1f %10s %7lld\n",
                  waiters, op, m.ops_per_sec, m.p50_us, m.p99_us, m.p999_us,
                  CpuText(m.cpu_us_per_op).c_str(),
                  static_cast<long long>(m.errors));
      rows.push_back(WaiterRow{waiters, op, m});
    }
  }

  const std::string csv = absl::GetFlag(FLAGS_csv);
  if (!csv.empty()) {
    std::ofstream out(csv, std::ios::trunc);
    out << "waiters,op,ops_per_sec,p50_us,p99_us,p999_us,cpu_us_per_op,"
           "errors\n";
    for (const WaiterRow& r : rows) {
      out << absl::StrFormat("%d,%s,%.1f,%.1f,%.1f,%.1f,%.1f,%d\n", r.waiters,
                             r.op, r.m.ops_per_sec, r.m.p50_us, r.m.p99_us,
                             r.m.p999_us, r.m.cpu_us_per_op, r.m.errors);
    }
    if (!out.good()) {
      std::fprintf(stderr, "cannot write --csv %s\n", csv.c_str());
      return 2;
    }
  }
  const std::string json = absl::GetFlag(FLAGS_json);
  if (!json.empty()) {
    std::ofstream out(json, std::ios::trunc);
    std::vector<std::string> quoted_args;
    for (const std::string& a : args) quoted_args.push_back(JsonString(a));
    out << "{\n  \"scenario\": \"waiters\",\n";
    out << "  \"nproc\": " << Nproc() << ",\n";
    out << "  \"cpu_model\": " << JsonString(CpuModel()) << ",\n";
    out << "  \"args\": [" << absl::StrJoin(quoted_args, ", ") << "],\n";
    out << absl::StrFormat(
        "  \"warmup_s\": %g,\n  \"duration_s\": %g,\n  \"repeat\": %d,\n"
        "  \"waiter_timeout_ms\": %d,\n",
        absl::ToDoubleSeconds(config.warmup),
        absl::ToDoubleSeconds(config.duration), config.repeat,
        config.waiter_timeout_ms);
    out << "  \"endpoint\": " << JsonString(config.endpoint) << ",\n";
    out << "  \"rows\": [\n";
    for (size_t i = 0; i < rows.size(); ++i) {
      const WaiterRow& r = rows[i];
      out << absl::StrFormat(
          "    {\"waiters\": %d, \"op\": %s, \"ops_per_sec\": %.1f, "
          "\"p50_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f, "
          "\"cpu_us_per_op\": %.1f, \"errors\": %d}%s\n",
          r.waiters, JsonString(r.op), r.m.ops_per_sec, r.m.p50_us, r.m.p99_us,
          r.m.p999_us, r.m.cpu_us_per_op, r.m.errors,
          i + 1 < rows.size() ? "," : "");
    }
    out << "  ]\n}\n";
    if (!out.good()) {
      std::fprintf(stderr, "cannot write --json %s\n", json.c_str());
      return 2;
    }
  }
  if (total_errors > 0) {
    std::printf("\nFAILED: %lld error(s); see \"first:\" above\n",
                static_cast<long long>(total_errors));
    return 1;
  }
  return 0;
}

int Run(const std::vector<std::string>& args) {
  Config config;
  for (const std::string& c : absl::GetFlag(FLAGS_clients)) {
    int n = 0;
    if (!absl::SimpleAtoi(c, &n) || n < 1 || n > 4096) {
      std::fprintf(stderr, "--clients: \"%s\" is not a number in [1, 4096]\n",
                   c.c_str());
      return 2;
    }
    config.client_counts.push_back(n);
  }
  config.warmup = absl::GetFlag(FLAGS_warmup);
  config.duration = absl::GetFlag(FLAGS_duration);
  config.repeat = absl::GetFlag(FLAGS_repeat);
  config.backends = absl::GetFlag(FLAGS_backends);
  config.endpoint = absl::GetFlag(FLAGS_endpoint);
  config.rpc_timeout = absl::GetFlag(FLAGS_rpc_timeout);
  const std::string layout = absl::GetFlag(FLAGS_key_layout);
  if (layout != "spread" && layout != "one_shard" &&
      layout != "beside_waiters") {
    std::fprintf(stderr,
                 "--key_layout: must be spread, one_shard or beside_waiters\n");
    return 2;
  }
  config.one_shard = layout != "spread";
  if (layout == "beside_waiters") config.one_shard_segment = "waiters";
  config.key_depth = absl::GetFlag(FLAGS_key_depth);
  if (config.key_depth < 0 || config.key_depth > 27 ||
      (config.one_shard && config.key_depth == 1)) {
    std::fprintf(stderr,
                 "--key_depth: 0 (legacy layout) or 1..27 (2..27 with "
                 "--key_layout=one_shard)\n");
    return 2;
  }
  if (config.client_counts.empty() || config.repeat < 1 ||
      config.duration <= absl::ZeroDuration() ||
      config.warmup < absl::ZeroDuration() ||
      config.rpc_timeout <= absl::ZeroDuration()) {
    std::fprintf(stderr,
                 "need --clients, --repeat >= 1, --duration > 0, "
                 "--warmup >= 0 and --rpc_timeout > 0\n");
    return 2;
  }
  const std::string scenario = absl::GetFlag(FLAGS_scenario);
  if (scenario != "pairs" && scenario != "waiters") {
    std::fprintf(stderr, "--scenario: must be pairs or waiters\n");
    return 2;
  }
  const bool waiters_scenario = scenario == "waiters";
  for (const std::string& w : absl::GetFlag(FLAGS_waiters)) {
    int n = 0;
    if (!absl::SimpleAtoi(w, &n) || n < 0 || n > 100000) {
      std::fprintf(stderr, "--waiters: \"%s\" is not a number in [0, 100000]\n",
                   w.c_str());
      return 2;
    }
    config.waiter_counts.push_back(n);
  }
  config.waiter_timeout_ms = absl::GetFlag(FLAGS_waiter_timeout_ms);
  if (waiters_scenario &&
      (config.waiter_counts.empty() || config.waiter_timeout_ms < 1)) {
    std::fprintf(stderr,
                 "--scenario=waiters: need --waiters and "
                 "--waiter_timeout_ms >= 1\n");
    return 2;
  }
  if (waiters_scenario) config.backends = {"taala"};
  bool want_taala = false;
  bool want_noop = false;
  for (const std::string& b : config.backends) {
    if (b == "taala") {
      want_taala = true;
    } else if (b == "noop") {
      want_noop = true;
    } else {
      std::fprintf(stderr, "--backends: unknown backend \"%s\"\n", b.c_str());
      return 2;
    }
  }
  if (!want_taala && !want_noop) {
    std::fprintf(stderr, "--backends: name at least one backend\n");
    return 2;
  }

  std::printf("taala-bench: nproc %d, cpu \"%s\"\n", Nproc(),
              CpuModel().c_str());
  std::printf("args: %s\n", absl::StrJoin(args, " ").c_str());
  if (waiters_scenario) {
    std::printf(
        "scenario waiters: queue lengths %s, warmup %s, duration %s per op, "
        "repeat %d, wait timeout %dms, taala at %s, mutex deadlock "
        "detection %s\n",
        absl::StrJoin(config.waiter_counts, ",").c_str(),
        absl::FormatDuration(config.warmup).c_str(),
        absl::FormatDuration(config.duration).c_str(), config.repeat,
        config.waiter_timeout_ms,
        config.endpoint.empty() ? "in-process" : config.endpoint.c_str(),
        absl::GetFlag(FLAGS_mutex_deadlock_detection) ? "library default"
                                                      : "off");
  } else {
    std::printf(
        "clients %s, warmup %s, duration %s, repeat %d, backends %s, "
        "key layout %s (client 0: \"%s\"), taala at %s, mutex deadlock "
        "detection %s\n",
        absl::StrJoin(config.client_counts, ",").c_str(),
        absl::FormatDuration(config.warmup).c_str(),
        absl::FormatDuration(config.duration).c_str(), config.repeat,
        absl::StrJoin(config.backends, ",").c_str(), layout.c_str(),
        KeyFor(0, config).c_str(),
        config.endpoint.empty() ? "in-process" : config.endpoint.c_str(),
        absl::GetFlag(FLAGS_mutex_deadlock_detection) ? "library default"
                                                      : "off");
  }
  std::fflush(stdout);

  // The servers live for the whole run (both idle while the other is
  // measured). Declaration order is destruction order in reverse: servers
  // go before the services and the table they call.
  LockTable::Options table_options;
  table_options.stats = absl::GetFlag(FLAGS_stats);
  LockTable table{table_options};
  LockServiceImpl taala_service(&table, RealClock());
  TimerLoop timers(&table, RealClock());
  // Ids and tokens of the size taala's replies carry (see the class).
  NoopLockService noop_service(config.endpoint.empty() ? 0
                                                       : uint64_t{1} << 40);
  std::unique_ptr<grpc::Server> taala_server;
  std::unique_ptr<grpc::Server> noop_server;
  std::map<std::string, std::string> targets;

  auto start_server = [](grpc::Service* service, const char* name,
                         std::unique_ptr<grpc::Server>* server) -> std::string {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service);
    *server = builder.BuildAndStart();
    if (*server == nullptr || port == 0) {
      std::fprintf(stderr, "cannot start the %s server\n", name);
      return "";
    }
    std::printf("%s server on 127.0.0.1:%d\n", name, port);
    return absl::StrCat("127.0.0.1:", port);
  };
  if (want_taala) {
    if (config.endpoint.empty()) {
      targets["taala"] = start_server(&taala_service, "taala", &taala_server);
      if (targets["taala"].empty()) return 2;
      timers.Start();
    } else {
      targets["taala"] = config.endpoint;
    }
  }
  if (want_noop) {
    targets["noop"] = start_server(&noop_service, "noop", &noop_server);
    if (targets["noop"].empty()) return 2;
  }

  if (waiters_scenario) {
    const int rc = RunWaiters(targets["taala"], config, args);
    const auto deadline =
        std::chrono::system_clock::now() + std::chrono::seconds(2);
    if (taala_server != nullptr) taala_server->Shutdown(deadline);
    timers.Stop();
    return rc;
  }

  std::map<std::pair<std::string, int>, std::vector<RunResult>> results;
  int run_id = 0;
  for (int clients : config.client_counts) {
    for (int r = 0; r < config.repeat; ++r) {
      std::vector<std::string> order = config.backends;
      if (r % 2 == 1) std::reverse(order.begin(), order.end());
      for (const std::string& backend : order) {
        const bool in_process = backend == "noop" || config.endpoint.empty();
        RunResult res =
            RunOnce(targets[backend], clients, ++run_id, in_process, config);
        std::printf(
            "  [clients %d, run %d/%d] %-5s %9.0f pairs/s  p50 %7.1fus  "
            "p99 %8.1fus  p999 %8.1fus  cpu %sus/pair  acquire reply %zuB  "
            "errors %lld%s%s\n",
            clients, r + 1, config.repeat, backend.c_str(), res.pairs_per_sec,
            res.p50_us, res.p99_us, res.p999_us,
            CpuText(res.cpu_us_per_pair).c_str(), res.acquire_response_bytes,
            static_cast<long long>(res.errors),
            res.errors > 0 ? "  first: " : "", res.first_error.c_str());
        std::fflush(stdout);
        results[{backend, clients}].push_back(std::move(res));
      }
    }
  }

  std::vector<Row> rows;
  std::map<int, Ratio> ratios;
  int64_t total_errors = 0;
  std::printf("\nResults (median of %d run%s; latency of one Acquire+Release "
              "pair, microseconds; cpu = process CPU per pair, client and "
              "in-process server together)\n",
              config.repeat, config.repeat == 1 ? "" : "s");
  for (int clients : config.client_counts) {
    std::printf("\nclients = %d\n", clients);
    std::printf("  %-7s %12s %9s %9s %9s %10s %7s\n", "backend", "pairs/s",
                "p50_us", "p99_us", "p999_us", "cpu_us/pr", "errors");
    std::map<std::string, double> throughput;
    for (const std::string& backend : config.backends) {
      const RunResult m = MedianOf(results[{backend, clients}]);
      std::printf("  %-7s %12.0f %9.1f %9.1f %9.1f %10s %7lld\n",
                  backend.c_str(), m.pairs_per_sec, m.p50_us, m.p99_us,
                  m.p999_us, CpuText(m.cpu_us_per_pair).c_str(),
                  static_cast<long long>(m.errors));
      throughput[backend] = m.pairs_per_sec;
      total_errors += m.errors;
      rows.push_back(Row{backend, clients, m});
    }
    if (want_taala && want_noop && throughput["noop"] > 0) {
      Ratio ratio;
      ratio.of_medians = throughput["taala"] / throughput["noop"];
      const std::vector<RunResult>& taala_runs = results[{"taala", clients}];
      const std::vector<RunResult>& noop_runs = results[{"noop", clients}];
      std::vector<double> paired;
      for (size_t i = 0; i < taala_runs.size() && i < noop_runs.size(); ++i) {
        if (noop_runs[i].pairs_per_sec > 0) {
          paired.push_back(taala_runs[i].pairs_per_sec /
                           noop_runs[i].pairs_per_sec);
        }
      }
      if (!paired.empty()) {
        ratio.median_paired = Median(paired);
        ratio.min_paired = *std::min_element(paired.begin(), paired.end());
        ratio.max_paired = *std::max_element(paired.begin(), paired.end());
      }
      ratios[clients] = ratio;
      std::printf(
          "  taala/noop pairs/s: %.2f (per-repetition ratios: median %.2f, "
          "min %.2f, max %.2f)\n",
          ratio.of_medians, ratio.median_paired, ratio.min_paired,
          ratio.max_paired);
    }
  }

  const std::string csv = absl::GetFlag(FLAGS_csv);
  if (!csv.empty() && !WriteCsv(csv, rows)) {
    std::fprintf(stderr, "cannot write --csv %s\n", csv.c_str());
    return 2;
  }
  const std::string json = absl::GetFlag(FLAGS_json);
  if (!json.empty() && !WriteJson(json, rows, ratios, args, config)) {
    std::fprintf(stderr, "cannot write --json %s\n", json.c_str());
    return 2;
  }

  const auto shutdown_deadline =
      std::chrono::system_clock::now() + std::chrono::seconds(2);
  if (taala_server != nullptr) taala_server->Shutdown(shutdown_deadline);
  if (noop_server != nullptr) noop_server->Shutdown(shutdown_deadline);
  timers.Stop();

  if (total_errors > 0) {
    std::printf("\nFAILED: %lld error(s); see \"first:\" above\n",
                static_cast<long long>(total_errors));
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace taala::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "taala-bench: uncontended Acquire+Release pairs/s and latency of taala "
      "against a no-op gRPC server.\n"
      "Usage: taala-bench [--clients=1,16,64] [--duration=3s] [--warmup=1s] "
      "[--repeat=1] [--csv=PATH] [--json=PATH] [--endpoint=host:port]");
  const std::vector<std::string> args(argv, argv + argc);
  absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_mutex_deadlock_detection)) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  return taala::bench::Run(args);
}
