// End-to-end tests of taalactl: the real taalactl binary against the real
// taalad on a loopback port, checked by exit status, files the commands
// write, and what taalad itself says (over the generated stub).

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/taalad_process.h"
#include "tests/tools/json_reader.h"

extern char** environ;

namespace taala {
namespace {

using ::taala::test::Json;
using ::taala::test::JsonReader;
using ::testing::HasSubstr;
using ::testing::Not;

// How long a test waits for something that should happen promptly before it
// gives up; never a measure of speed.
constexpr absl::Duration kPatience = absl::Seconds(30);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool Exists(const std::string& path) {
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

std::ostream& operator<<(std::ostream& os, const Result& r) {
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
struct AsyncAcquire {
  grpc::ClientContext ctx;
  v1::AcquireRequest req;
  v1::AcquireResponse resp;
  grpc::Status status;
  absl::Notification done;

  void Start(v1::LockService::Stub* stub, uint64_t session,
             const std::string& key) {
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

TEST_F(TaalactlTest, TwoConcurrentLockRunsNeverInterleave) {
  const std::string file = Path("markers");
  const std::string script =
      absl::StrCat("echo start >> '", file, "'; sleep 0.3; echo end >> '",
                   file, "'");
  auto first = Start({"lock", "shared/k", "--", "sh", "-c", script});
  auto second = Start({"lock", "shared/k", "--", "sh", "-c", script});
  EXPECT_EQ(first->Wait(), 0) << first->err();
  EXPECT_EQ(second->Wait(), 0) << second->err();
  EXPECT_EQ(ReadFile(file), "start\nend\nstart\nend\n");
  EXPECT_EQ(Describe("shared/k").holders_size(), 0);  // Released.
}

TEST_F(TaalactlTest, PassesTheCommandsExitStatusThrough) {
  Result r = Run({"lock", "k", "--", "sh", "-c", "exit 7"});
  EXPECT_EQ(r.code, 7) << r;
  r = Run({"lock", "k", "--", "true"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, "");
  // Killed by a signal: 128 + the signal, as in the shell.
  r = Run({"lock", "k", "--", "sh", "-c", "kill -TERM $$"});
  EXPECT_EQ(r.code, 128 + SIGTERM) << r;
  // A command that does not exist: 127, as in the shell.
  r = Run({"lock", "k", "--", "/nonexistent/taala-command"});
  EXPECT_EQ(r.code, 127) << r;
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/taala-command"));
  // Every run released the key.
  EXPECT_EQ(Describe("k").holders_size(), 0);
}

TEST_F(TaalactlTest, WaitZeroOnAHeldKeyExits75WithoutRunningTheCommand) {
  const uint64_t holder = CreateSession("holder");
  const uint64_t token = MustAcquire(holder, "busy");
  const std::string marker = Path("marker");

  Result r = Run({"lock", "--wait", "0", "busy", "--", "touch", marker});
  EXPECT_EQ(r.code, 75) << r;
  EXPECT_FALSE(Exists(marker));
  EXPECT_THAT(r.err, HasSubstr("\"busy\""));

  const absl::Time start = absl::Now();
  r = Run({"lock", "--wait=300ms", "busy", "--", "touch", marker});
  EXPECT_EQ(r.code, 75) << r;
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_FALSE(Exists(marker));
  EXPECT_EQ(Describe("busy").waiter_count(), 0u);

  MustRelease(holder, "busy", token);
  r = Run({"lock", "--wait", "0", "busy", "--", "touch", marker});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_TRUE(Exists(marker));
}

TEST_F(TaalactlTest, TheCommandGetsTheKeyAndFencingToken) {
  const uint64_t s = CreateSession("before");
  const uint64_t earlier = MustAcquire(s, "jobs/nightly");
  MustRelease(s, "jobs/nightly", earlier);

  const std::string env_file = Path("env");
  const std::string describe_file = Path("describe.json");
  // Inherited values are replaced; the command can ask taalad about itself.
  Result r = Run(
      {"lock", "jobs/nightly", "--", "sh", "-c",
       absl::StrCat("printf '%s %s' \"$TAALA_KEY\" \"$TAALA_FENCING_TOKEN\" > '",
                    env_file, "' && \"$TAALACTL\" --json describe \"$TAALA_KEY\" > '",
                    describe_file, "'")},
      {"TAALA_KEY=stale", "TAALA_FENCING_TOKEN=1",
       absl::StrCat("TAALACTL=", TAALACTL_PATH),
       absl::StrCat("TAALA_ENDPOINT=", daemon_->address())});
  ASSERT_EQ(r.code, 0) << r;
  std::vector<std::string> parts = absl::StrSplit(ReadFile(env_file), ' ');
  ASSERT_EQ(parts.size(), 2u) << ReadFile(env_file);
  EXPECT_EQ(parts[0], "jobs/nightly");
  uint64_t token = 0;
  ASSERT_TRUE(absl::SimpleAtoi(parts[1], &token)) << parts[1];
  EXPECT_GT(token, earlier);

  std::optional<Json> d = JsonReader::Parse(ReadFile(describe_file));
  ASSERT_TRUE(d.has_value()) << ReadFile(describe_file);
  EXPECT_EQ((*d)["key"].text, "jobs/nightly");
  EXPECT_EQ((*d)["holders"][0]["fencing_token"].text, parts[1]);
  EXPECT_EQ((*d)["holders"][0]["client_name"].text,
            "taalactl lock jobs/nightly");
}

TEST_F(TaalactlTest, DescribeListSessionsAndHealthPrintTablesAndJson) {
  const uint64_t worker =
      CreateSession("worker-7", {{"team", "payments"}, {"host", "h1"}});
  const uint64_t queued = CreateSession("queued");
  const uint64_t token = MustAcquire(worker, "app/a");
  MustAcquire(worker, "app/b");
  MustAcquire(worker, "other/c");
  AsyncAcquire wait;
  wait.Start(stub_.get(), queued, "app/a");
  ASSERT_TRUE(
      Eventually([&] { return Describe("app/a").waiter_count() == 1; }));
  const std::string worker_id = absl::StrCat(worker);
  const std::string token_text = absl::StrCat(token);

  // describe
  Result r = Run({"describe", "app/a"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("KEY    app/a\n"));
  EXPECT_THAT(r.out, HasSubstr("STATE  held, 1 waiter\n"));
  EXPECT_THAT(r.out, HasSubstr("SESSION"));
  EXPECT_THAT(r.out, HasSubstr("HELD FOR"));
  EXPECT_THAT(r.out, testing::ContainsRegex(absl::StrCat(
                         "\n", worker_id, " +worker-7 +", token_text,
                         " +EXCLUSIVE  ")));
  EXPECT_THAT(r.out, HasSubstr("WAITERS (queue order)\n"));
  EXPECT_THAT(r.out, HasSubstr("WAITED FOR"));
  EXPECT_THAT(r.out, testing::ContainsRegex(absl::StrCat(
                         "\n1  ", queued, " +queued +EXCLUSIVE  ")));
  EXPECT_THAT(r.out, HasSubstr("until cancelled"));

  r = Run({"--json", "describe", "app/a"});
  ASSERT_EQ(r.code, 0) << r;
  std::optional<Json> j = JsonReader::Parse(r.out);
  ASSERT_TRUE(j.has_value()) << r.out;
  EXPECT_EQ((*j)["key"].text, "app/a");
  EXPECT_TRUE((*j)["held"].boolean);
  const Json& holder = (*j)["holders"][0];
  EXPECT_EQ(holder["session_id"].text, worker_id);
  EXPECT_EQ(holder["client_name"].text, "worker-7");
  EXPECT_EQ(holder["fencing_token"].text, token_text);
  EXPECT_EQ(holder["mode"].text, "EXCLUSIVE");
  EXPECT_TRUE(holder["held_for_ms"].is_number());
  EXPECT_EQ(holder["max_hold_remaining_ms"].as_int(), 0);
  const Json& waiter = (*j)["waiters"][0];
  EXPECT_EQ(waiter["position"].as_int(), 1);
  EXPECT_EQ(waiter["session_id"].text, absl::StrCat(queued));
  EXPECT_EQ(waiter["client_name"].text, "queued");
  EXPECT_TRUE(waiter["waited_for_ms"].is_number());
  EXPECT_EQ(waiter["wait_remaining_ms"].as_int(), -1);
  EXPECT_EQ((*j)["waiter_count"].as_int(), 1);

  r = Run({"describe", "free/key"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, "KEY    free/key\nSTATE  free\n");
  r = Run({"describe", "free/key", "--json"});
  j = JsonReader::Parse(r.out);
  ASSERT_TRUE(j.has_value()) << r.out;
  EXPECT_FALSE((*j)["held"].boolean);
  EXPECT_TRUE((*j)["holders"].is_array());
  EXPECT_TRUE((*j)["holders"].items.empty());

  // A malformed key: the server's INVALID_ARGUMENT, exit 1.
  r = Run({"describe", "a//b"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT"));

  // list
  r = Run({"list", "app/"});
  ASSERT_EQ(r.code, 0) << r;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
  ASSERT_EQ(lines.size(), 4u) << r.out;  // Header, two keys, "".
  EXPECT_THAT(lines[0], HasSubstr("KEY    SESSION"));
  EXPECT_THAT(lines[0], HasSubstr("WAITERS"));
  EXPECT_THAT(lines[1], testing::ContainsRegex(absl::StrCat(
                            "^app/a  ", worker_id, " +worker-7 +",
                            token_text, " ")));
  EXPECT_THAT(lines[1], testing::EndsWith("  1"));
  EXPECT_THAT(lines[2], testing::StartsWith("app/b  "));
  EXPECT_THAT(lines[2], testing::EndsWith("  0"));
  EXPECT_THAT(r.out, Not(HasSubstr("other/c")));

  r = Run({"list", "--json"});
  ASSERT_EQ(r.code, 0) << r;
  j = JsonReader::Parse(r.out);
  ASSERT_TRUE(j.has_value()) << r.out;
  EXPECT_EQ((*j)["prefix"].text, "");
  ASSERT_EQ((*j)["locks"].items.size(), 3u);
  EXPECT_EQ((*j)["locks"][0]["key"].text, "app/a");
  EXPECT_EQ((*j)["locks"][0]["waiter_count"].as_int(), 1);
  EXPECT_EQ((*j)["locks"][0]["holders"][0]["fencing_token"].text, token_text);
  EXPECT_EQ((*j)["locks"][2]["key"].text, "other/c");
  EXPECT_FALSE((*j)["truncated"].boolean);

  r = Run({"list", "--json", "--limit", "1", "app/"});
  j = JsonReader::Parse(r.out);
  ASSERT_TRUE(j.has_value()) << r.out;
  ASSERT_EQ((*j)["locks"].items.size(), 1u);
  EXPECT_TRUE((*j)["truncated"].boolean);

  r = Run({"list", "nothing/"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, "no locks held under \"nothing/\"\n");

  // sessions
  r = Run({"sessions"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("SESSION"));
  EXPECT_THAT(r.out, HasSubstr("EXPIRES IN"));
  EXPECT_THAT(r.out, testing::ContainsRegex(
                         absl::StrCat("\n", worker_id, " +worker-7 +30s")));
  EXPECT_THAT(r.out, HasSubstr("host=h1,team=payments"));

  r = Run({"sessions", "--json"});
  ASSERT_EQ(r.code, 0) << r;
  j = JsonReader::Parse(r.out);
  ASSERT_TRUE(j.has_value()) << r.out;
  ASSERT_EQ((*j)["sessions"].items.size(), 2u);
  const Json& s0 = (*j)["sessions"][0];
  EXPECT_EQ(s0["session_id"].text, worker_id);
  EXPECT_EQ(s0["client_name"].text, "worker-7");
  EXPECT_EQ(s0["labels"]["team"].text, "payments");
  EXPECT_EQ(s0["ttl_ms"].as_int(), 30000);
  EXPECT_GT(s0["expires_in_ms"].as_int(), 0);
  EXPECT_EQ(s0["held_keys"].as_int(), 3);
  EXPECT_EQ(s0["waiting_keys"].as_int(), 0);
  EXPECT_EQ((*j)["sessions"][1]["waiting_keys"].as_int(), 1);

  // health
  r = Run({"health"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out,
              testing::StartsWith(absl::StrCat(daemon_->address(),
                                               "  SERVING\n  durability fsync; ")));
  EXPECT_THAT(r.out, HasSubstr("previous stop clean"));
  EXPECT_THAT(r.out, Not(HasSubstr("GRANTS REFUSED")));
  r = Run({"health", "--json"});
  EXPECT_EQ(r.code, 0) << r;
  j = JsonReader::Parse(r.out);
  ASSERT_TRUE(j.has_value()) << r.out;
  EXPECT_EQ((*j)["status"].text, "SERVING");
  EXPECT_EQ((*j)["endpoint"].text, daemon_->address());
  EXPECT_EQ((*j)["durability"].text, "fsync");
  EXPECT_EQ((*j)["grants_refused_for_ms"].as_int(), 0);
  EXPECT_TRUE((*j)["previous_stop_clean"].boolean);

  // deadlocks: the queued session waits for the worker on app/a.
  r = Run({"deadlocks"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("deadlocks refused since start: 0"));
  EXPECT_THAT(r.out, HasSubstr("queued"));
  EXPECT_THAT(r.out, HasSubstr("worker-7"));
  EXPECT_THAT(r.out, HasSubstr("app/a"));
  r = Run({"deadlocks", "--json"});
  EXPECT_EQ(r.code, 0) << r;
  j = JsonReader::Parse(r.out);
  ASSERT_TRUE(j.has_value()) << r.out;
  EXPECT_EQ((*j)["deadlocks_refused"].text, "0");
  EXPECT_EQ((*j)["edges"][0]["key"].text, "app/a");
  EXPECT_EQ((*j)["edges"][0]["blocker_session_id"].text, worker_id);
  EXPECT_EQ((*j)["edges"][0]["blocker_is"].text, "holder");

  MustRelease(worker, "app/a", token);
  ASSERT_TRUE(wait.Wait());
  EXPECT_TRUE(wait.status.ok()) << wait.status.error_message();
}

TEST_F(TaalactlTest, BadUsageExits64) {
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"frobnicate"},
      {"--bogus", "health"},
      {"lock"},
      {"lock", "k"},
      {"lock", "--wait", "soon", "k", "--", "true"},
      {"describe"},
      {"sessions", "extra"},
  };
  for (const auto& args : cases) {
    Taalactl t(dir_, args);
    EXPECT_EQ(t.Wait(), 64) << t.description();
    EXPECT_THAT(t.err(), HasSubstr("taalactl --help")) << t.description();
  }
  Taalactl help(dir_, {"--help"});
  EXPECT_EQ(help.Wait(), 0);
  EXPECT_THAT(help.out(), HasSubstr("Usage: taalactl"));
}

TEST_F(TaalactlTest, UnreachableEndpointExits69) {
  // A loopback port nobody listens on: bound, then closed.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  const std::string endpoint = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  const std::string marker = Path("never");

  const std::vector<std::vector<std::string>> cases = {
      {"health"},
      {"describe", "k"},
      {"list"},
      {"sessions"},
      {"lock", "k", "--", "touch", marker},
  };
  for (const auto& args : cases) {
    std::vector<std::string> with = args;
    with.insert(with.begin(), "--endpoint=" + endpoint);
    Taalactl t(dir_, with);
    EXPECT_EQ(t.Wait(), 69) << t.description() << "\n" << t.err();
    EXPECT_THAT(t.err(), HasSubstr(endpoint)) << t.description();
  }
  // The environment names the endpoint too.
  Taalactl from_env(dir_, {"health"}, {"TAALA_ENDPOINT=" + endpoint});
  EXPECT_EQ(from_env.Wait(), 69);
  EXPECT_FALSE(Exists(marker));
}

TEST_F(TaalactlTest, SigtermIsForwardedToTheCommandAndTheKeyReleased) {
  const std::string ready = Path("ready");
  auto run = Start({"lock", "sig/k", "--", "sh", "-c",
                    absl::StrCat("trap 'exit 42' TERM; touch '", ready,
                                 "'; while :; do sleep 0.05; done")});
  ASSERT_TRUE(Eventually([&] { return Exists(ready); })) << run->err();
  EXPECT_EQ(Describe("sig/k").holders_size(), 1);
  run->Signal(SIGTERM);
  EXPECT_EQ(run->Wait(), 42) << run->err();
  EXPECT_EQ(Describe("sig/k").holders_size(), 0);
}

TEST_F(TaalactlTest, SignalWhileWaitingGivesUpWithoutRunningTheCommand) {
  const uint64_t holder = CreateSession("holder");
  const uint64_t token = MustAcquire(holder, "queue/k");
  const std::string marker = Path("marker");
  auto run = Start({"lock", "queue/k", "--", "touch", marker});
  ASSERT_TRUE(
      Eventually([&] { return Describe("queue/k").waiter_count() == 1; }))
      << run->err();
  run->Signal(SIGINT);
  EXPECT_EQ(run->Wait(), 128 + SIGINT);
  EXPECT_THAT(run->err(), HasSubstr("while waiting for key \"queue/k\""));
  EXPECT_EQ(Describe("queue/k").waiter_count(), 0u);
  MustRelease(holder, "queue/k", token);
  EXPECT_FALSE(Exists(marker));
}

TEST_F(TaalactlTest, LostSessionWarnsAndStopsTheCommand) {
  const std::string ready = Path("ready");
  auto run = Start({"lock", "--ttl", "500ms", "lost/k", "--", "sh", "-c",
                    absl::StrCat("trap 'exit 3' TERM; touch '", ready,
                                 "'; while :; do sleep 0.05; done")});
  ASSERT_TRUE(Eventually([&] { return Exists(ready); })) << run->err();
  // No more keepalives are answered: the session is lost after its TTL.
  ASSERT_EQ(daemon_->Stop(), 0);
  EXPECT_EQ(run->Wait(), 3);
  EXPECT_THAT(run->err(), HasSubstr("WARNING: lost the lock on key \"lost/k\""));
}

// Two `lock --shared` runs hold the key together: each command waits (up to
// ~10 s) until the other has started and the test says go, so both starts
// come before both ends only if both held the key at once.
TEST_F(TaalactlTest, SharedLockRunsHoldTheKeyTogether) {
  const std::string markers = Path("markers");
  const std::string go = Path("go");
  auto script = [&](const std::string& me, const std::string& other) {
    return absl::StrCat(
        "echo start >> '", markers, "'; touch '", Path(me), "'; i=0; ",
        "while { [ ! -e '", Path(other), "' ] || [ ! -e '", go, "' ]; } && ",
        "[ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; ",
        "echo end >> '", markers, "'");
  };
  auto first = Start({"lock", "--shared", "rw/k", "--", "sh", "-c",
                      script("ready.a", "ready.b")});
  auto second = Start({"lock", "--shared", "rw/k", "--", "sh", "-c",
                       script("ready.b", "ready.a")});
  ASSERT_TRUE(Eventually([&] {
    return Exists(Path("ready.a")) && Exists(Path("ready.b"));
  })) << first->err() << second->err();

  // Both hold it now, SHARED; a writer cannot get in.
  v1::DescribeLockResponse d = Describe("rw/k");
  ASSERT_EQ(d.holders_size(), 2);
  for (const v1::Holder& h : d.holders()) {
    EXPECT_EQ(h.grant().mode(), v1::LOCK_MODE_SHARED);
    EXPECT_EQ(h.client_name(), "taalactl lock rw/k");
  }
  Result r = Run({"--json", "describe", "rw/k"});
  ASSERT_EQ(r.code, 0) << r;
  std::optional<Json> j = JsonReader::Parse(r.out);
  ASSERT_TRUE(j.has_value()) << r.out;
  ASSERT_EQ((*j)["holders"].items.size(), 2u);
  EXPECT_EQ((*j)["holders"][0]["mode"].text, "SHARED");
  EXPECT_EQ((*j)["holders"][1]["mode"].text, "SHARED");
  EXPECT_EQ((*j)["semaphore_size"].as_int(), 0);
  EXPECT_EQ((*j)["lock_delay_remaining_ms"].as_int(), 0);
  const std::string marker = Path("writer-ran");
  r = Run({"lock", "--wait", "0", "rw/k", "--", "touch", marker});
  EXPECT_EQ(r.code, 75) << r;
  EXPECT_FALSE(Exists(marker));

  { std::ofstream(go) << "go\n"; }
  EXPECT_EQ(first->Wait(), 0) << first->err();
  EXPECT_EQ(second->Wait(), 0) << second->err();
  EXPECT_EQ(ReadFile(markers), "start\nstart\nend\nend\n");
  EXPECT_EQ(Describe("rw/k").holders_size(), 0);  // Both released.

  // Free again: an exclusive run gets it.
  r = Run({"lock", "--wait", "0", "rw/k", "--", "touch", marker});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_TRUE(Exists(marker));
}

TEST_F(TaalactlTest, SemaphoreRunsShareTheSlotsAndDescribeShowsTheSize) {
  // One slot of a semaphore of two is taken over the API.
  const uint64_t other = CreateSession("other-slot");
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::AcquireRequest req;
  req.set_session_id(other);
  req.set_key("pool/k");
  req.set_semaphore_size(2);
  v1::AcquireResponse resp;
  ASSERT_TRUE(stub_->Acquire(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED);
  const uint64_t token = resp.grant().fencing_token();

  // The second slot: taalactl takes it at once and, while it holds it,
  // describes the key.
  const std::string describe_table = Path("describe.txt");
  const std::string describe_json = Path("describe.json");
  Result r = Run(
      {"lock", "--semaphore", "2", "--wait", "0", "pool/k", "--", "sh", "-c",
       absl::StrCat("\"$TAALACTL\" describe pool/k > '", describe_table,
                    "' && \"$TAALACTL\" --json describe pool/k > '",
                    describe_json, "'")},
      {absl::StrCat("TAALACTL=", TAALACTL_PATH),
       absl::StrCat("TAALA_ENDPOINT=", daemon_->address())});
  ASSERT_EQ(r.code, 0) << r;
  const std::string table = ReadFile(describe_table);
  const std::string state = "STATE  semaphore of size 2, 2 held, 0 waiters\n";
  EXPECT_THAT(table, HasSubstr(state)) << table;
  std::optional<Json> j = JsonReader::Parse(ReadFile(describe_json));
  ASSERT_TRUE(j.has_value()) << ReadFile(describe_json);
  EXPECT_EQ((*j)["semaphore_size"].as_int(), 2);
  EXPECT_EQ((*j)["holders"].items.size(), 2u);
  EXPECT_TRUE((*j)["held"].boolean);

  // Both slots taken: a third run is not let in.
  const uint64_t third = CreateSession("third-slot");
  grpc::ClientContext ctx2;
  SetDeadline(&ctx2);
  req.set_session_id(third);
  ASSERT_TRUE(stub_->Acquire(&ctx2, req, &resp).ok());
  ASSERT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED);
  const std::string marker = Path("marker");
  r = Run({"lock", "--semaphore", "2", "--wait", "0", "pool/k", "--", "touch",
           marker});
  EXPECT_EQ(r.code, 75) << r;
  EXPECT_THAT(r.err, HasSubstr("semaphore"));
  // Another size, or a plain lock, is refused: FAILED_PRECONDITION, exit 1.
  r = Run({"lock", "--semaphore", "3", "--wait", "0", "pool/k", "--", "touch",
           marker});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(r.err, HasSubstr("size 2"));
  r = Run({"lock", "--wait", "0", "pool/k", "--", "touch", marker});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_FALSE(Exists(marker));

  r = Run({"describe", "pool/k"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr(state));
  MustRelease(other, "pool/k", token);
}

TEST_F(TaalactlTest, DescribeShowsALockDelayAfterTheHolderExpired) {
  uint64_t doomed = 0;
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::CreateSessionRequest req;
    req.set_ttl_ms(200);  // Never renewed.
    req.set_client_name("doomed");
    v1::CreateSessionResponse resp;
    ASSERT_TRUE(stub_->CreateSession(&ctx, req, &resp).ok());
    doomed = resp.session_id();
  }
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::AcquireRequest req;
    req.set_session_id(doomed);
    req.set_key("delay/k");
    req.set_lock_delay_ms(20000);
    v1::AcquireResponse resp;
    ASSERT_TRUE(stub_->Acquire(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED);
  }
  ASSERT_TRUE(Eventually([&] {
    v1::DescribeLockResponse d = Describe("delay/k");
    return d.holders_size() == 0 && d.lock_delay_remaining_ms() > 0;
  }));
  Result r = Run({"describe", "delay/k"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("STATE  not held, lock-delay "));
  EXPECT_THAT(r.out, HasSubstr(" left, 0 waiters\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("HOLDERS")));

  r = Run({"--json", "describe", "delay/k"});
  ASSERT_EQ(r.code, 0) << r;
  std::optional<Json> j = JsonReader::Parse(r.out);
  ASSERT_TRUE(j.has_value()) << r.out;
  EXPECT_FALSE((*j)["held"].boolean);
  EXPECT_GT((*j)["lock_delay_remaining_ms"].as_int(), 0);
  EXPECT_LE((*j)["lock_delay_remaining_ms"].as_int(), 20000);
  EXPECT_EQ((*j)["semaphore_size"].as_int(), 0);

  // Nobody gets the key meanwhile.
  r = Run({"lock", "--wait", "0", "delay/k", "--", "true"});
  EXPECT_EQ(r.code, 75) << r;
}

}  // namespace
}  // namespace taala
