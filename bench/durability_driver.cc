// durability-driver: helpers for bench/durability_bench.sh (issue 9), all
// against a running taalad (--endpoint=host:port):
//
//   status   Print GetServerStatus as one JSON object on one line.
//   fill     Create --sessions sessions (TTL --ttl) that each hold
//            --keys_per_session keys ("f<session>/k<key>"), taken with
//            AcquireAll in batches of --batch keys, from --threads threads.
//            The sessions are left open (the daemon holds the locks).
//   pairs    --pairs uncontended Acquire+Release pairs in total over --keys
//            keys ("p<key>/x"), from --threads threads (thread t uses the
//            keys i with i % threads == t, round-robin), one session each.
//
// Each prints one JSON line on stdout; any failed call is an error (exit 1).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "taala/v1/lock_service.grpc.pb.h"

ABSL_FLAG(std::string, endpoint, "127.0.0.1:7070", "taalad host:port.");
ABSL_FLAG(int32_t, sessions, 1000, "fill: sessions.");
ABSL_FLAG(int32_t, keys_per_session, 1000, "fill: keys held per session.");
ABSL_FLAG(int32_t, batch, 125, "fill: keys per AcquireAll (<= 128).");
ABSL_FLAG(int64_t, pairs, 1000000, "pairs: Acquire+Release pairs in total.");
ABSL_FLAG(int32_t, keys, 1000, "pairs: distinct keys.");
ABSL_FLAG(int32_t, threads, 16, "Client threads (one channel each).");
ABSL_FLAG(absl::Duration, ttl, absl::Hours(1), "Session TTL.");
ABSL_FLAG(absl::Duration, rpc_timeout, absl::Seconds(60), "Per-RPC deadline.");

namespace {

using taala::v1::LockService;

std::atomic<int64_t> g_errors{0};
absl::Mutex g_err_mu;
std::string g_first_error;

void Error(const std::string& what) {
  if (g_errors.fetch_add(1) == 0) {
    absl::MutexLock l(&g_err_mu);
    g_first_error = what;
  }
}

void Deadline(grpc::ClientContext& ctx) {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   absl::ToChronoMicroseconds(absl::GetFlag(FLAGS_rpc_timeout)));
}

std::shared_ptr<grpc::Channel> Channel(int i) {
  grpc::ChannelArguments args;
  args.SetInt("taala.driver.channel", i);  // One connection per thread.
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(absl::GetFlag(FLAGS_endpoint),
                                   grpc::InsecureChannelCredentials(), args);
}

uint64_t NewSession(LockService::Stub& stub, const std::string& name) {
  taala::v1::CreateSessionRequest req;
  req.set_ttl_ms(absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_ttl)));
  req.set_client_name(name);
  taala::v1::CreateSessionResponse resp;
  grpc::ClientContext ctx;
  Deadline(ctx);
  grpc::Status s = stub.CreateSession(&ctx, req, &resp);
  if (!s.ok()) {
    Error(absl::StrCat("CreateSession: ", s.error_code(), " ",
                       s.error_message()));
    return 0;
  }
  return resp.session_id();
}

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

int Status() {
  auto stub = LockService::NewStub(Channel(0));
  taala::v1::GetServerStatusRequest req;
  taala::v1::GetServerStatusResponse resp;
  grpc::ClientContext ctx;
  Deadline(ctx);
  grpc::Status s = stub->GetServerStatus(&ctx, req, &resp);
  if (!s.ok()) {
    std::fprintf(stderr, "GetServerStatus: %d %s\n", s.error_code(),
                 s.error_message().c_str());
    return 1;
  }
  const taala::v1::ServerStatus& st = resp.status();
  std::printf(
      "{\"durability\": \"%s\", \"sessions_restored\": %llu, "
      "\"grants_restored\": %llu, \"records_replayed\": %llu, "
      "\"snapshot_lsn\": %llu, \"recovery_ms\": %lld, "
      "\"previous_stop_clean\": %s, \"last_lsn\": %llu, \"wal_records\": %llu, "
      "\"wal_fsyncs\": %llu, \"wal_bytes\": %llu, \"sessions\": %llu, "
      "\"keys\": %llu}\n",
      st.durability().c_str(),
      static_cast<unsigned long long>(st.sessions_restored()),
      static_cast<unsigned long long>(st.grants_restored()),
      static_cast<unsigned long long>(st.records_replayed()),
      static_cast<unsigned long long>(st.snapshot_lsn()),
      static_cast<long long>(st.recovery_ms()),
      st.previous_stop_clean() ? "true" : "false",
      static_cast<unsigned long long>(st.last_lsn()),
      static_cast<unsigned long long>(st.wal_records()),
      static_cast<unsigned long long>(st.wal_fsyncs()),
      static_cast<unsigned long long>(st.wal_bytes()),
      static_cast<unsigned long long>(st.sessions()),
      static_cast<unsigned long long>(st.keys()));
  return 0;
}

int Fill() {
  const int sessions = absl::GetFlag(FLAGS_sessions);
  const int per = absl::GetFlag(FLAGS_keys_per_session);
  const int batch = std::clamp(absl::GetFlag(FLAGS_batch), 1, 128);
  const int threads = std::max(1, absl::GetFlag(FLAGS_threads));
  std::atomic<int> next{0};
  std::atomic<int64_t> granted{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto stub = LockService::NewStub(Channel(t));
      for (int s; (s = next.fetch_add(1)) < sessions;) {
        const uint64_t id = NewSession(*stub, absl::StrCat("fill/", s));
        if (id == 0) return;
        for (int k = 0; k < per; k += batch) {
          taala::v1::AcquireAllRequest req;
          req.set_session_id(id);
          req.set_wait_timeout_ms(0);
          for (int j = k; j < std::min(per, k + batch); ++j) {
            auto* key = req.add_keys();
            key->set_key(absl::StrCat("f", s, "/k", j));
            key->set_mode(taala::v1::LOCK_MODE_EXCLUSIVE);
          }
          taala::v1::AcquireAllResponse resp;
          grpc::ClientContext ctx;
          Deadline(ctx);
          grpc::Status st = stub->AcquireAll(&ctx, req, &resp);
          if (!st.ok() ||
              resp.result() != taala::v1::AcquireResponse::ACQUIRED) {
            Error(absl::StrCat("AcquireAll: ", st.error_code(), " ",
                               st.error_message(), " result ",
                               static_cast<int>(resp.result())));
            return;
          }
          granted += resp.grants_size();
        }
      }
    });
  }
  for (std::thread& t : pool) t.join();
  const double secs = Since(t0);
  std::printf(
      "{\"sessions\": %d, \"grants\": %lld, \"seconds\": %.2f, "
      "\"grants_per_sec\": %.0f, \"errors\": %lld}\n",
      sessions, static_cast<long long>(granted.load()), secs,
      static_cast<double>(granted.load()) / secs,
      static_cast<long long>(g_errors.load()));
  return g_errors.load() == 0 ? 0 : 1;
}

int Pairs() {
  const int64_t pairs = absl::GetFlag(FLAGS_pairs);
  const int keys = std::max(1, absl::GetFlag(FLAGS_keys));
  const int threads = std::clamp(absl::GetFlag(FLAGS_threads), 1, keys);
  std::atomic<int64_t> done{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto stub = LockService::NewStub(Channel(t));
      const uint64_t id = NewSession(*stub, absl::StrCat("pairs/", t));
      if (id == 0) return;
      std::vector<std::string> mine;
      for (int k = t; k < keys; k += threads) {
        mine.push_back(absl::StrCat("p", k, "/x"));
      }
      for (size_t i = 0; done.fetch_add(1) < pairs; ++i) {
        const std::string& key = mine[i % mine.size()];
        taala::v1::AcquireRequest acq;
        acq.set_session_id(id);
        acq.set_key(key);
        acq.set_mode(taala::v1::LOCK_MODE_EXCLUSIVE);
        taala::v1::AcquireResponse got;
        {
          grpc::ClientContext ctx;
          Deadline(ctx);
          grpc::Status s = stub->Acquire(&ctx, acq, &got);
          if (!s.ok() || got.result() != taala::v1::AcquireResponse::ACQUIRED) {
            Error(absl::StrCat("Acquire: ", s.error_code(), " ",
                               s.error_message()));
            return;
          }
        }
        taala::v1::ReleaseRequest rel;
        rel.set_session_id(id);
        rel.set_key(key);
        rel.set_fencing_token(got.grant().fencing_token());
        taala::v1::ReleaseResponse out;
        grpc::ClientContext ctx;
        Deadline(ctx);
        grpc::Status s = stub->Release(&ctx, rel, &out);
        if (!s.ok()) {
          Error(absl::StrCat("Release: ", s.error_code(), " ",
                             s.error_message()));
          return;
        }
      }
      taala::v1::CloseSessionRequest req;
      req.set_session_id(id);
      taala::v1::CloseSessionResponse resp;
      grpc::ClientContext ctx;
      Deadline(ctx);
      grpc::Status s = stub->CloseSession(&ctx, req, &resp);
      if (!s.ok()) Error(absl::StrCat("CloseSession: ", s.error_message()));
    });
  }
  for (std::thread& t : pool) t.join();
  const double secs = Since(t0);
  std::printf(
      "{\"pairs\": %lld, \"keys\": %d, \"threads\": %d, \"seconds\": %.2f, "
      "\"pairs_per_sec\": %.0f, \"errors\": %lld}\n",
      static_cast<long long>(pairs), keys, threads, secs,
      static_cast<double>(pairs) / secs,
      static_cast<long long>(g_errors.load()));
  return g_errors.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "durability-driver status|fill|pairs --endpoint=host:port [flags]");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  const std::string cmd = rest.size() > 1 ? rest[1] : "";
  int rc = 2;
  if (cmd == "status") {
    rc = Status();
  } else if (cmd == "fill") {
    rc = Fill();
  } else if (cmd == "pairs") {
    rc = Pairs();
  } else {
    std::fprintf(stderr, "usage: durability-driver status|fill|pairs ...\n");
    return 2;
  }
  if (g_errors.load() > 0) {
    absl::MutexLock l(&g_err_mu);
    std::fprintf(stderr, "first error: %s\n", g_first_error.c_str());
  }
  return rc;
}
