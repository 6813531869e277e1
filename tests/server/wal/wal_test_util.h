#ifndef TAALA_TESTS_SERVER_WAL_WAL_TEST_UTIL_H_
#define TAALA_TESTS_SERVER_WAL_WAL_TEST_UTIL_H_

// Helpers for the write-ahead log's tests: a real temporary directory and
// synthetic transition records.

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/core/transition.h"
#include "server/wal/recovery.h"
#include "server/wal/wal.h"
#include "tests/testing/status_matchers.h"

namespace taala::test {

// A fresh directory under $TEST_TMPDIR (or /tmp), removed with its contents
// when this goes away.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string templ = std::string(base != nullptr ? base : "/tmp") +
                        "/taala_wal_test_XXXXXX";
    path_ = ::mkdtemp(templ.data()) != nullptr ? templ : std::string();
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline absl::Time TestWall(int64_t seconds) {
  return absl::FromUnixSeconds(1700000000 + seconds);
}

inline Transition SessionCreated(uint64_t session_id) {
  Transition t;
  t.type = TransitionType::kSessionCreated;
  t.session_id = session_id;
  t.client_name = "client-" + std::to_string(session_id);
  t.ttl = absl::Seconds(10);
  t.wall = TestWall(0);
  return t;
}

inline Transition GrantMade(const std::string& key, uint64_t session_id) {
  Transition t;
  t.type = TransitionType::kGrantMade;
  t.key = key;
  t.session_id = session_id;
  t.wall = TestWall(1);
  return t;
}

inline Transition GrantEnded(const std::string& key, uint64_t session_id,
                             uint64_t token) {
  Transition t;
  t.type = TransitionType::kGrantEnded;
  t.key = key;
  t.session_id = session_id;
  t.token = token;
  t.reason = EndReason::kReleased;
  t.wall = TestWall(2);
  return t;
}

// Options for a Wal in `dir` (a TempDir) with durability `d`.
inline wal::WalOptions Options(const TempDir& dir,
                        wal::Durability d = wal::Durability::kFsync) {
  wal::WalOptions o;
  o.dir = dir.path();
  o.durability = d;
  return o;
}

// Recover, Open and Start, as taalad does. Null (with a test failure) on
// error.
inline std::unique_ptr<wal::Wal> OpenWal(
    const wal::WalOptions& options,
    absl::Duration max_ttl = absl::Minutes(1)) {
  absl::StatusOr<wal::Recovered> r = wal::Recover(options, max_ttl);
  if (!r.ok()) {
    ADD_FAILURE() << r.status();
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<wal::Wal>> w = wal::Wal::Open(options, *r);
  if (!w.ok()) {
    ADD_FAILURE() << w.status();
    return nullptr;
  }
  (*w)->Start();
  return std::move(*w);
}

// Appends `t` and folds it (with its LSN) into `model`.
inline uint64_t AppendTo(TransitionLog& log, Transition t,
                         DurableState* model) {
  t.lsn = log.Append(t);
  if (t.type == TransitionType::kGrantMade) t.token = t.lsn;
  if (model != nullptr && !model->Apply(t)) {
    ADD_FAILURE() << "model rejects " << TransitionToString(t);
  }
  return t.lsn;
}

// An async run (its --max_session_ttl `flag`) in which session 7 was
// granted "k" under a lease of `ttl`, then a crash (kill -9).
inline void CrashedAsyncRunWithAGrant(const TempDir& dir, absl::Duration ttl,
                                      absl::Duration flag = absl::Minutes(1)) {
  auto wal = OpenWal(Options(dir, wal::Durability::kAsync), flag);
  ASSERT_NE(wal, nullptr);
  AppendTo(*wal, SessionCreated(7), nullptr);
  AppendTo(*wal, GrantMade("k", 7), nullptr);
  ASSERT_OK(wal->NoteSessionTtl(ttl));
  wal->FlushForTest();
  wal->AbandonForTest();
}

}  // namespace taala::test

#endif  // TAALA_TESTS_SERVER_WAL_WAL_TEST_UTIL_H_
