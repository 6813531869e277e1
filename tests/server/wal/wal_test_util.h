#ifndef TAALA_TESTS_SERVER_WAL_WAL_TEST_UTIL_H_
#define TAALA_TESTS_SERVER_WAL_WAL_TEST_UTIL_H_

// Helpers for the write-ahead log's tests: a real temporary directory and
// synthetic transition records.

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/time/time.h"
#include "server/core/transition.h"

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

}  // namespace taala::test

#endif  // TAALA_TESTS_SERVER_WAL_WAL_TEST_UTIL_H_
