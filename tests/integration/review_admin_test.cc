// Hostile review (C) of taalad's HTTP admin listener. Each test here failed on
// main at 34bb1f6; the comment on each says what is wrong and what is correct.

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/admin_helpers.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// WRONG: a query value containing '=' is cut at its last '=' (cpp-httplib
// splits "name=value" on every '=' and keeps the last piece), so
// GET /api/v1/locks/describe?key=team=a/x silently describes the key "a/x"
// and answers 200 with an empty lock, and ?prefix=team=a/ lists nothing.
// Taala keys may contain '=' (only control characters are refused), and
// curl users type such URLs as is.
// CORRECT: as in application/x-www-form-urlencoded (WHATWG URL), the value
// is everything after the FIRST '=': the key "team=a/x" is described (with
// its holder), or else the request is refused with a 400 - never a 200 about
// another key.
TEST(ReviewAdminTest, QueryValueWithEqualsSignIsNotTruncated) {
  auto started = test::TaaladProcess::Start({});
  ASSERT_TRUE(started.ok()) << started.status();
  auto& d = *started;
  auto stub = test::RestartableStub(d->address());
  uint64_t session = 0;
  ASSERT_TRUE(test::CreateSession(stub.get(), 600000, &session).ok());
  v1::AcquireResponse acq;
  ASSERT_TRUE(test::Acquire(stub.get(), session, "team=a/x", 0, &acq).ok());
  ASSERT_EQ(acq.result(), v1::AcquireResponse::ACQUIRED);

  test::HttpReply r =
      test::HttpGet(d->admin_port(), "/api/v1/locks/describe?key=team=a/x");
  if (r.status == 200) {
    v1::DescribeLockResponse desc;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &desc).ok())
        << r.body;
    EXPECT_EQ(desc.key(), "team=a/x") << "described another key: " << r.body;
    EXPECT_EQ(desc.holders_size(), 1) << r.body;
  } else {
    EXPECT_EQ(r.status, 400) << r.error << r.body;
  }

  test::HttpReply l =
      test::HttpGet(d->admin_port(), "/api/v1/locks?prefix=team=a/");
  if (l.status == 200) {
    EXPECT_THAT(l.body, HasSubstr("\"team=a/x\""))
        << "listed with a truncated prefix: " << l.body;
  } else {
    EXPECT_EQ(l.status, 400) << l.error << l.body;
  }
}

// WRONG: "?=5" (an empty parameter name) is reported as an unknown parameter
// named "5", and "?page_size==5" is accepted as page_size=5 (empty pieces
// between '=' are dropped), so a malformed query passes silently.
// CORRECT: the name is what precedes the first '=' (here "", unknown), and the
// value of page_size in "page_size==5" is "=5", not an integer: 400.
TEST(ReviewAdminTest, MalformedNameValuePairsAreRefusedAsWritten) {
  auto started = test::TaaladProcess::Start({});
  ASSERT_TRUE(started.ok()) << started.status();
  auto& d = *started;
  test::HttpReply empty_name = test::HttpGet(d->admin_port(), "/api/v1/locks?=5");
  EXPECT_EQ(empty_name.status, 400) << empty_name.body;
  EXPECT_THAT(empty_name.body, Not(HasSubstr("unknown query parameter \\\"5\\\"")))
      << "the value was taken for the name: " << empty_name.body;

  test::HttpReply doubled =
      test::HttpGet(d->admin_port(), "/api/v1/locks?page_size==5");
  EXPECT_EQ(doubled.status, 400) << doubled.body;
}

// WRONG: a malformed --admin_listen (no port, or a port that is not a number)
// is checked for loopback before it is parsed, so taalad refuses it with
// "is not a loopback address ... Pass --insecure_allow_remote to do it
// anyway" - for "[::1]" (which docs/observability.md calls loopback) and for
// ":abc"/"host"/"127.0.0.1" alike. The advice is wrong (passing the flag
// only changes the message to "want host:port") and it steers the user to
// expose the listener.
// CORRECT: the syntax error is reported first ("want host:port"), without
// suggesting --insecure_allow_remote.
TEST(ReviewAdminTest, MalformedAdminListenGetsSyntaxErrorNotLoopbackAdvice) {
  for (const std::string value : {":abc", "host", "[::1]", "127.0.0.1"}) {
    auto run = test::RunTaaladToExit(
        {"--listen=127.0.0.1:0", "--admin_listen=" + value,
         "--data_dir=/tmp/taala_review_c_bad_admin_listen"},
        10000);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_TRUE(run->exited) << value << ": " << run->output;
    EXPECT_EQ(run->exit_code, 1) << value << ": " << run->output;
    EXPECT_THAT(run->output, HasSubstr("want host:port"))
        << value << ": " << run->output;
    EXPECT_THAT(run->output, Not(HasSubstr("is not a loopback address")))
        << value << ": " << run->output;
  }
}
}  // namespace
}  // namespace taala
