// Shared by the Watch end-to-end tests (watch_e2e_test.cc,
// review_watch_test.cc): a watch read on its own thread, the fold of a
// stream into holders and waiters per key, the same from DescribeLock, and
// a fixture that starts taalad.

#ifndef TAALA_TESTS_INTEGRATION_WATCH_FIXTURE_H_
#define TAALA_TESTS_INTEGRATION_WATCH_FIXTURE_H_

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taala/v1/admin_service.grpc.pb.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"

namespace taala::watch_test {

using ::testing::HasSubstr;
using v1::LockService;
using v1::WatchEvent;
using v1::WatchResponse;

constexpr int64_t kTtlMs = 300000;
constexpr absl::Duration kPatience = absl::Seconds(60);

// A watch read on its own thread; every message kept.
class Watcher {
 public:
  Watcher(LockService::Stub* stub, v1::WatchRequest req) {
    thread_ = std::thread([this, stub, req] {
      std::unique_ptr<grpc::ClientReader<WatchResponse>> reader =
          stub->Watch(&ctx_, req);
      WatchResponse msg;
      while (reader->Read(&msg)) {
        absl::MutexLock lock(&mu_);
        got_.push_back(msg);
      }
      grpc::Status s = reader->Finish();
      absl::MutexLock lock(&mu_);
      status_ = s;
      done_ = true;
    });
    // A snapshot watch has begun once its snapshot is in (what the test
    // does next is then an event).
    if (req.after_lsn() != 0) return;
    absl::MutexLock lock(&mu_);
    auto begun = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const WatchResponse& m : got_) {
        if (m.has_snapshot() && m.snapshot().complete()) return true;
      }
      return done_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&begun), kPatience);
  }
  ~Watcher() {
    ctx_.TryCancel();
    thread_.join();
  }
  void Cancel() { ctx_.TryCancel(); }
  // Waits until an event with this LSN (or the end) arrived.
  bool WaitForLsn(uint64_t lsn) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      if (done_) return true;
      for (const WatchResponse& m : got_) {
        if (m.has_event() && m.event().lsn() >= lsn) return true;
      }
      return false;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), kPatience) &&
           !done_;
  }
  bool WaitForEvent(WatchEvent::Type type, const std::string& key) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const WatchResponse& m : got_) {
        if (m.has_event() && m.event().type() == type &&
            m.event().key() == key) {
          return true;
        }
      }
      return done_;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), kPatience);
  }
  grpc::Status WaitDone() {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&done_), kPatience);
    return status_;
  }
  std::vector<WatchResponse> got() {
    absl::MutexLock lock(&mu_);
    return got_;
  }

 private:
  grpc::ClientContext ctx_;
  absl::Mutex mu_;
  std::vector<WatchResponse> got_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

inline v1::WatchRequest Prefix(const std::string& p, uint64_t after = 0) {
  v1::WatchRequest r;
  r.set_prefix(p);
  r.set_after_lsn(after);
  return r;
}

// A client's fold of the stream, from the proto alone: key -> holders
// (session, token) by token and waiters (session) in queue order.
struct Folded {
  std::map<uint64_t, uint64_t> holders;  // token -> session
  std::vector<uint64_t> waiters;
  std::vector<bool> upgrade;
};
using FoldedKeys = std::map<std::string, Folded>;

inline void FoldEvent(const WatchEvent& e, FoldedKeys& keys) {
  Folded& k = keys[e.key()];
  auto erase_holder = [&](uint64_t session) {
    for (auto it = k.holders.begin(); it != k.holders.end(); ++it) {
      if (it->second == session) {
        k.holders.erase(it);
        return;
      }
    }
  };
  auto waiter = [&]() {
    return std::find(k.waiters.begin(), k.waiters.end(), e.session_id());
  };
  switch (e.type()) {
    case WatchEvent::GRANTED:
      if (e.upgrade()) erase_holder(e.session_id());
      k.holders[e.fencing_token()] = e.session_id();
      break;
    case WatchEvent::RELEASED:
    case WatchEvent::EXPIRED:
    case WatchEvent::REVOKED:
    case WatchEvent::UNDONE:
      k.holders.erase(e.fencing_token());
      break;
    case WatchEvent::RESTORED:
      erase_holder(e.session_id());
      k.holders[e.fencing_token()] = e.session_id();
      break;
    case WatchEvent::WAITING:
      if (waiter() == k.waiters.end()) k.waiters.push_back(e.session_id());
      break;
    case WatchEvent::WAIT_ENDED:
      if (auto w = waiter(); w != k.waiters.end()) k.waiters.erase(w);
      break;
    default:
      break;
  }
  if (k.holders.empty() && k.waiters.empty()) keys.erase(e.key());
}

// Folds a stream (snapshot, then events); checks the order as it goes.
inline FoldedKeys FoldStream(const std::vector<WatchResponse>& got) {
  FoldedKeys keys;
  uint64_t snapshot_lsn = 0;
  uint64_t last = 0;
  bool complete = false;
  for (const WatchResponse& m : got) {
    if (m.has_snapshot()) {
      EXPECT_FALSE(complete);
      snapshot_lsn = m.snapshot().lsn();
      last = snapshot_lsn;
      for (const v1::WatchedKey& wk : m.snapshot().keys()) {
        Folded& k = keys[wk.key()];
        for (const auto& h : wk.holders()) {
          k.holders[h.fencing_token()] = h.session_id();
        }
        for (const auto& w : wk.waiters()) k.waiters.push_back(w.session_id());
        if (k.holders.empty() && k.waiters.empty()) keys.erase(wk.key());
      }
      complete = m.snapshot().complete();
      continue;
    }
    EXPECT_TRUE(complete) << "an event before the snapshot's end";
    const WatchEvent& e = m.event();
    if (e.lsn() != 0) {
      EXPECT_GT(e.lsn(), last) << e.ShortDebugString();
      last = e.lsn();
    } else {
      EXPECT_GE(e.after_lsn(), last > snapshot_lsn ? last : snapshot_lsn)
          << e.ShortDebugString();
    }
    FoldEvent(e, keys);
  }
  return keys;
}

inline Folded Described(LockService::Stub* stub, const std::string& key) {
  grpc::ClientContext ctx;
  v1::DescribeLockRequest req;
  req.set_key(key);
  v1::DescribeLockResponse resp;
  EXPECT_TRUE(stub->DescribeLock(&ctx, req, &resp).ok());
  Folded f;
  for (const auto& h : resp.holders()) {
    f.holders[h.grant().fencing_token()] = h.grant().session_id();
  }
  for (const auto& w : resp.waiters()) f.waiters.push_back(w.session_id());
  return f;
}

uint64_t Take(LockService::Stub* stub, uint64_t session,
              const std::string& key) {
  v1::AcquireResponse resp;
  grpc::Status s = test::Acquire(stub, session, key, 60000, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(resp.has_grant());
  return resp.grant().fencing_token();
}

inline uint64_t NewSession(LockService::Stub* stub, const std::string& name) {
  uint64_t id = 0;
  EXPECT_TRUE(test::CreateSession(stub, kTtlMs, &id, name).ok());
  return id;
}

class WatchFixture : public ::testing::Test {
 protected:
  void StartDaemon(std::vector<std::string> args = {}) {
    auto p = test::TaaladProcess::Start(std::move(args));
    ASSERT_TRUE(p.ok()) << p.status();
    daemon_ = std::move(*p);
    stub_ = test::RestartableStub(daemon_->address());
  }
  uint64_t Metric(const std::string& name) {
    grpc::ClientContext ctx;
    v1::GetMetricsResponse resp;
    EXPECT_TRUE(
        stub_->GetMetrics(&ctx, v1::GetMetricsRequest(), &resp).ok());
    return name == "watchers" ? resp.metrics().watchers()
                              : resp.metrics().watchers_too_slow();
  }
  std::unique_ptr<test::TaaladProcess> daemon_;
  std::unique_ptr<LockService::Stub> stub_;
};

}  // namespace taala::watch_test

#endif  // TAALA_TESTS_INTEGRATION_WATCH_FIXTURE_H_
