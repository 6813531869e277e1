// The fixture of taalactl's end-to-end tests: the real taalactl binary
// (TAALACTL_PATH) against the real taalad on a loopback port, with helpers
// that run it, read its --json output back into the response messages, and
// talk to taalad over the generated stub.

#ifndef TAALA_TESTS_TOOLS_TAALACTL_FIXTURE_H_
#define TAALA_TESTS_TOOLS_TAALACTL_FIXTURE_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/taalad_process.h"

extern char** environ;

namespace taala::test {

// How long a test waits for something that should happen promptly before it
// gives up; never a measure of speed.
inline constexpr absl::Duration kPatience = absl::Seconds(30);

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// Polls `condition` until it holds or kPatience passes.
template <typename Fn>
bool Eventually(Fn condition) {
  const absl::Time give_up = absl::Now() + kPatience;
  while (absl::Now() < give_up) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return condition();
}

// `json` (taalactl --json's output) read back as an M with protobuf's own
// parser: strict, so a field the message does not have fails the test.
template <typename M>
M FromJson(const std::string& json) {
  M message;
  const auto status =
      google::protobuf::util::JsonStringToMessage(json, &message);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return message;
}

// One taalactl run: a child process with stdout and stderr in files.
class Taalactl {
 public:
  // Starts TAALACTL_PATH with `args`; `env` entries (NAME=value) are added to
  // the test's environment, without TAALA_ENDPOINT unless given.
  Taalactl(const std::string& dir, std::vector<std::string> args,
           std::vector<std::string> env = {}) {
    static int serial = 0;
    const std::string base = absl::StrCat(dir, "/taalactl.", ++serial);
    out_path_ = base + ".out";
    err_path_ = base + ".err";
    std::vector<std::string> argv = {TAALACTL_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    description_ = absl::StrJoin(argv, " ");
    std::vector<std::string> envs;
    for (char** e = environ; *e != nullptr; ++e) {
      if (!absl::StartsWith(*e, "TAALA_")) envs.emplace_back(*e);
    }
    envs.insert(envs.end(), env.begin(), env.end());
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::vector<char*> cenv;
    for (std::string& e : envs) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = posix_spawn(&pid_, cargv[0], &actions, nullptr,
                                cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(err, 0) << "cannot start " << cargv[0];
    if (err != 0) pid_ = -1;
  }

  ~Taalactl() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  void Signal(int sig) { kill(pid_, sig); }

  // Waits for the exit; returns the exit status (128+N if killed by signal
  // N), or -1 if it did not end within kPatience (it is then killed).
  int Wait() {
    if (pid_ <= 0) return -1;
    const absl::Time give_up = absl::Now() + kPatience;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (absl::Now() > give_up) {
        ADD_FAILURE() << description_ << " did not exit within "
                      << kPatience << "\nstderr:\n" << err();
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
        return -1;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string out() const { return ReadFile(out_path_); }
  std::string err() const { return ReadFile(err_path_); }
  const std::string& description() const { return description_; }

 private:
  pid_t pid_ = -1;
  std::string out_path_;
  std::string err_path_;
  std::string description_;
};

struct Result {
  int code;
  std::string out;
  std::string err;
};

inline std::ostream& operator<<(std::ostream& os, const Result& r) {
  return os << "exit " << r.code << "\nstdout:\n" << r.out << "\nstderr:\n"
            << r.err;
}

class TaalactlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TMPDIR");
    std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp",
                                   "/taalactl_test_XXXXXX");
    ASSERT_NE(mkdtemp(dir.data()), nullptr) << dir;
    dir_ = dir;
    auto started = test::TaaladProcess::Start({"--min_session_ttl=100ms"});
    ASSERT_TRUE(started.ok()) << started.status();
    daemon_ = std::move(*started);
    stub_ = v1::LockService::NewStub(grpc::CreateChannel(
        daemon_->address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (HasFailure()) {
      if (daemon_ != nullptr) {
        std::cerr << "---- taalad log ----\n" << daemon_->Log();
      }
      std::cerr << "taalactl outputs kept in " << dir_ << "\n";
    } else if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  std::vector<std::string> WithEndpoint(std::vector<std::string> args) {
    args.insert(args.begin(), "--endpoint=" + daemon_->address());
    return args;
  }

  // Runs taalactl against the test's daemon and waits for it.
  Result Run(std::vector<std::string> args, std::vector<std::string> env = {}) {
    Taalactl t(dir_, WithEndpoint(std::move(args)), std::move(env));
    const int code = t.Wait();
    return Result{code, t.out(), t.err()};
  }
  std::unique_ptr<Taalactl> Start(std::vector<std::string> args,
                                  std::vector<std::string> env = {}) {
    return std::make_unique<Taalactl>(dir_, WithEndpoint(std::move(args)),
                                      std::move(env));
  }

  std::string Path(const std::string& name) const {
    return absl::StrCat(dir_, "/", name);
  }

  void SetDeadline(grpc::ClientContext* ctx) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + kPatience));
  }

  uint64_t CreateSession(const std::string& name,
                         std::map<std::string, std::string> labels = {}) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::CreateSessionRequest req;
    req.set_ttl_ms(30000);
    req.set_client_name(name);
    req.mutable_labels()->insert(labels.begin(), labels.end());
    v1::CreateSessionResponse resp;
    grpc::Status s = stub_->CreateSession(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.session_id();
  }

  void CloseSession(uint64_t session) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::CloseSessionRequest req;
    req.set_session_id(session);
    v1::CloseSessionResponse resp;
    grpc::Status s = stub_->CloseSession(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }

  uint64_t MustAcquire(uint64_t session, const std::string& key) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::AcquireRequest req;
    req.set_session_id(session);
    req.set_key(key);
    v1::AcquireResponse resp;
    grpc::Status s = stub_->Acquire(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED) << key;
    return resp.grant().fencing_token();
  }

  void MustRelease(uint64_t session, const std::string& key, uint64_t token) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::ReleaseRequest req;
    req.set_session_id(session);
    req.set_key(key);
    req.set_fencing_token(token);
    v1::ReleaseResponse resp;
    grpc::Status s = stub_->Release(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }

  v1::DescribeLockResponse Describe(const std::string& key) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::DescribeLockRequest req;
    req.set_key(key);
    v1::DescribeLockResponse resp;
    grpc::Status s = stub_->DescribeLock(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  std::string dir_;
  std::unique_ptr<test::TaaladProcess> daemon_;
  std::unique_ptr<v1::LockService::Stub> stub_;
};

// A waiting Acquire on the callback API.
// A test that stops early (a failed ASSERT) cancels the call on the way out,
// so the callback never runs on a destroyed object.
struct AsyncAcquire {
  grpc::ClientContext ctx;
  v1::AcquireRequest req;
  v1::AcquireResponse resp;
  grpc::Status status;
  absl::Notification done;
  bool started = false;

  ~AsyncAcquire() {
    if (!started) return;
    ctx.TryCancel();
    done.WaitForNotification();
  }

  void Start(v1::LockService::Stub* stub, uint64_t session,
             const std::string& key) {
    started = true;
    req.set_session_id(session);
    req.set_key(key);
    req.set_wait_timeout_ms(-1);
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
    stub->async()->Acquire(&ctx, &req, &resp, [this](grpc::Status s) {
      status = std::move(s);
      done.Notify();
    });
  }
  bool Wait() { return done.WaitForNotificationWithTimeout(kPatience); }
};

}  // namespace taala::test

#endif  // TAALA_TESTS_TOOLS_TAALACTL_FIXTURE_H_
