// Client::Connect's endpoint: ClientOptions::endpoints, else $TAALA_ENDPOINT,
// else 127.0.0.1:7070 (as taalactl); a host without a port dials 7070.
// Against a real taalad: a session opened through the chosen endpoint.

#include <stdlib.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/lock_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/client_fixture.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class EndpointEnvTest : public test::ClientFixture {
 protected:
  void TearDown() override {
    unsetenv("TAALA_ENDPOINT");
    test::ClientFixture::TearDown();
  }
};

TEST_F(EndpointEnvTest, ConnectWithoutEndpointsDialsTaalaEndpoint) {
  ASSERT_EQ(setenv("TAALA_ENDPOINT", daemon_->address().c_str(), 1), 0);
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect();
  ASSERT_OK(client);
  EXPECT_THAT((*client)->options().endpoints,
              ElementsAre(daemon_->address()));
  // The session is opened at the daemon the environment names.
  auto session = NewSession(**client, absl::Seconds(30));
  ASSERT_NE(session, nullptr);
  auto grant = session->Acquire("env/k", {absl::ZeroDuration()});
  ASSERT_OK(grant);
  ASSERT_TRUE(grant->has_value());
  EXPECT_TRUE(HeldByAnother(**client, "env/k"));
}

TEST_F(EndpointEnvTest, AnExplicitEndpointWinsOverTheEnvironment) {
  // Nobody listens on port 1: a session there would fail.
  ASSERT_EQ(setenv("TAALA_ENDPOINT", "127.0.0.1:1", 1), 0);
  ClientOptions options = Options();
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
  ASSERT_OK(client);
  EXPECT_THAT((*client)->options().endpoints,
              ElementsAre(daemon_->address()));
  EXPECT_NE(NewSession(**client, absl::Seconds(30)), nullptr);
}

TEST(EndpointDefaultTest, DefaultIsLoopback7070AndABareHostGetsPort7070) {
  unsetenv("TAALA_ENDPOINT");
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect();
  ASSERT_OK(client);
  EXPECT_THAT((*client)->options().endpoints, ElementsAre("127.0.0.1:7070"));

  ASSERT_EQ(setenv("TAALA_ENDPOINT", "", 1), 0);  // Empty: not set.
  client = Client::Connect();
  ASSERT_OK(client);
  EXPECT_THAT((*client)->options().endpoints, ElementsAre("127.0.0.1:7070"));

  ASSERT_EQ(setenv("TAALA_ENDPOINT", "db1.example", 1), 0);
  client = Client::Connect();
  ASSERT_OK(client);
  EXPECT_THAT((*client)->options().endpoints, ElementsAre("db1.example:7070"));
  unsetenv("TAALA_ENDPOINT");

  ClientOptions options;
  options.endpoints = {"a", "b:9", "[::1]"};
  client = Client::Connect(options);
  ASSERT_OK(client);
  EXPECT_THAT((*client)->options().endpoints,
              ElementsAre("a:7070", "b:9", "[::1]:7070"));

  options.endpoints = {"a:1", ""};
  EXPECT_THAT(Client::Connect(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("endpoint")));

  // A port outside 1..65535 (gRPC would take it modulo 65536) is refused,
  // from the environment with the variable named; an empty port is 7070.
  ASSERT_EQ(setenv("TAALA_ENDPOINT", "127.0.0.1:70000", 1), 0);
  EXPECT_THAT(Client::Connect(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("TAALA_ENDPOINT")));
  ASSERT_EQ(setenv("TAALA_ENDPOINT", "db1:", 1), 0);
  client = Client::Connect();
  ASSERT_OK(client);
  EXPECT_THAT((*client)->options().endpoints, ElementsAre("db1:7070"));
  unsetenv("TAALA_ENDPOINT");
  options.endpoints = {"a:1", "b:-1"};
  EXPECT_THAT(Client::Connect(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("b:-1")));
}

}  // namespace
}  // namespace taala
