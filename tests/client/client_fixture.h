// A fixture for client library tests against a real taalad on a loopback
// port: start (and restart) the daemon, connect, open sessions, probe keys.

#ifndef TAALA_TESTS_CLIENT_CLIENT_FIXTURE_H_
#define TAALA_TESTS_CLIENT_CLIENT_FIXTURE_H_

#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "client/lock_client.h"
#include "gtest/gtest.h"
#include "tests/integration/taalad_process.h"

namespace taala::test {

class ClientFixture : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void TearDown() override {
    if (HasFailure() && daemon_ != nullptr) {
      std::cerr << "---- taalad log ----\n" << daemon_->Log();
    }
  }

  // Starts taalad (replacing daemon_); `data_dir` empty: a fresh one.
  void Start(std::vector<std::string> args = {"--min_session_ttl=100ms"},
             std::string data_dir = "") {
    auto started = TaaladProcess::Start(std::move(args), std::move(data_dir));
    ASSERT_TRUE(started.ok()) << started.status();
    daemon_ = std::move(*started);
  }

  ClientOptions Options() {
    ClientOptions options;
    options.endpoints = {daemon_->address()};
    options.call_timeout = absl::Seconds(5);
    return options;
  }

  std::unique_ptr<Client> Connect(ClientOptions options) {
    auto client = Client::Connect(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  std::unique_ptr<Session> NewSession(Client& client, absl::Duration ttl,
                                      SessionOptions options = {}) {
    options.ttl = ttl;
    auto session = client.CreateSession(std::move(options));
    EXPECT_TRUE(session.ok()) << session.status();
    return session.ok() ? std::move(*session) : nullptr;
  }

  // True if `key` is held by someone: a fresh session's try-lock fails.
  bool HeldByAnother(Client& client, const std::string& key) {
    auto probe = NewSession(client, absl::Seconds(10));
    auto grant = probe->Acquire(key, {absl::ZeroDuration()});
    EXPECT_TRUE(grant.ok()) << grant.status();
    return grant.ok() && !grant->has_value();
  }

  std::unique_ptr<TaaladProcess> daemon_;
};

}  // namespace taala::test

#endif  // TAALA_TESTS_CLIENT_CLIENT_FIXTURE_H_
