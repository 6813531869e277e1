// The dashboard in a real browser: taalad with a held lock (its holder
// labelled), a waiter and a leak suspect; headless Chromium loads / and runs
// its script, and the DOM it dumps must show the key, the holder, the waiter
// and the suspect. A screenshot is saved as <build dir>/dashboard.png.
// Skipped (with a message) only when chromium is not installed.

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/admin_helpers.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using ::testing::HasSubstr;

constexpr char kKey[] = "dash/orders/42";

std::string FindChromium() {
  const char* path = getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    for (const char* name : {"chromium", "chromium-browser"}) {
      const std::string candidate = absl::StrCat(dir, "/", name);
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return "";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `argv` with stdout to `out` and stderr to `err`; SIGKILLs it after
// `timeout`. Returns its exit status (-1: killed or did not start).
int RunCommand(std::vector<std::string> argv, const std::string& out,
        const std::string& err, std::chrono::seconds timeout) {
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // Chromium's helpers go with it.
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  if (pid < 0) return -1;
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < give_up) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(-pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

// The element that starts with `open_tag` up to its closing `close`, or "".
std::string Element(const std::string& dom, const std::string& open_tag,
                    const std::string& close) {
  const size_t at = dom.find(open_tag);
  if (at == std::string::npos) return "";
  const size_t end = dom.find(close, at);
  return dom.substr(at, end == std::string::npos ? std::string::npos
                                                 : end - at);
}

TEST(DashboardBrowserTest, ShowsTheKeyItsHolderTheWaiterAndTheSuspect) {
  const std::string chromium = FindChromium();
  if (chromium.empty()) {
    GTEST_SKIP() << "chromium is not installed (scripts/install-deps.sh "
                    "installs it): the dashboard is not checked in a browser";
  }
  auto daemon = test::TaaladProcess::Start({"--leak_threshold=1s"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto stub = test::RestartableStub((*daemon)->address());

  const uint64_t holder = test::LabelledSession(
      stub.get(), "dash-holder", {{"host", "dash-host"}, {"pid", "4242"}});
  const uint64_t other = test::LabelledSession(stub.get(), "dash-waiter", {});
  ASSERT_NE(holder, 0u);
  ASSERT_NE(other, 0u);
  v1::AcquireResponse acquired;
  ASSERT_TRUE(test::Acquire(stub.get(), holder, kKey, 0, &acquired).ok());
  ASSERT_EQ(acquired.result(), v1::AcquireResponse::ACQUIRED);
  test::BackgroundWaiter waiter(stub.get(), other, kKey);
  ASSERT_TRUE(test::AwaitWaiters(stub.get(), kKey, 1));
  {
    // Held past the 1 s threshold: a suspect.
    bool suspect = false;
    for (int i = 0; i < 300 && !suspect; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(test::DeadlineIn(std::chrono::seconds(10)));
      v1::GetLeakSuspectsResponse resp;
      suspect = stub->GetLeakSuspects(&ctx, v1::GetLeakSuspectsRequest(),
                                      &resp).ok() &&
                resp.suspects_size() > 0;
      if (!suspect) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(suspect) << "no leak suspect after 30 s";
  }

  const std::string url =
      absl::StrCat("http://", (*daemon)->admin_address(), "/");
  const std::string dir = (*daemon)->data_dir() + "-browser";
  std::filesystem::create_directories(dir);
  const std::vector<std::string> common = {
      chromium, "--headless", "--no-sandbox", "--disable-gpu",
      "--user-data-dir=" + dir + "/profile", "--virtual-time-budget=2000"};
  std::vector<std::string> dump = common;
  dump.insert(dump.end(), {"--dump-dom", url});
  const int rc = RunCommand(dump, dir + "/dom.html", dir + "/chromium.log",
                     std::chrono::seconds(60));
  const std::string dom = ReadFile(dir + "/dom.html");
  ASSERT_EQ(rc, 0) << ReadFile(dir + "/chromium.log");

  const std::string key_attr = absl::StrCat("data-key=\"", kKey, "\"");
  const std::string lock_row =
      Element(dom, absl::StrCat("<tr class=\"lock-row\" ", key_attr), "</tr>");
  EXPECT_THAT(lock_row, HasSubstr(absl::StrCat("<td class=\"key\">", kKey)))
      << dom;
  EXPECT_THAT(lock_row, HasSubstr("<td class=\"holder\">dash-holder</td>"));
  // The holder's labels, as ListLocks gives them.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(test::DeadlineIn(std::chrono::seconds(10)));
    v1::ListLocksRequest req;
    req.set_prefix(kKey);
    v1::ListLocksResponse resp;
    ASSERT_TRUE(stub->ListLocks(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.locks_size(), 1);
    ASSERT_EQ(resp.locks(0).holders_size(), 1);
    EXPECT_THAT(lock_row, HasSubstr(resp.locks(0).holders(0).labels_size() > 0
                                        ? "host=dash-host, pid=4242"
                                        : "<td class=\"labels\"></td>"));
  }
  // The sessions table shows both sessions, the holder's labels too.
  EXPECT_THAT(Element(dom, "<tr class=\"session-row\"><td class=\"mono "
                           "session\">" + std::to_string(holder) + "<",
                      "</tr>"),
              HasSubstr("host=dash-host, pid=4242"));
  EXPECT_THAT(dom, HasSubstr("<td class=\"client\">dash-waiter</td>"));
  const std::string waiter_row = Element(
      dom, absl::StrCat("<tr class=\"waiter-row\" ", key_attr), "</tr>");
  EXPECT_THAT(waiter_row, HasSubstr("<td class=\"waiter\">dash-waiter</td>"))
      << dom;
  EXPECT_THAT(dom, HasSubstr("id=\"health-score\""));
  EXPECT_THAT(dom, HasSubstr("<svg"));  // The wait and hold charts.
  const std::string suspect_row = Element(
      dom, absl::StrCat("<tr class=\"suspect\" ", key_attr), "</tr>");
  EXPECT_THAT(suspect_row, HasSubstr("<td class=\"holder\">dash-holder</td>"))
      << dom;
  EXPECT_THAT(suspect_row, HasSubstr("host=dash-host, pid=4242"));
  // Top contention names the key with its waiter.
  EXPECT_THAT(Element(dom, absl::StrCat("<tr class=\"contended-row\" ",
                                        key_attr),
                      "</tr>"),
              HasSubstr(absl::StrCat("<td class=\"key\">", kKey)));

  std::vector<std::string> shot = common;
  const std::string png = std::string(TAALA_BUILD_DIR) + "/dashboard.png";
  std::filesystem::remove(png);
  shot.insert(shot.end(),
              {"--screenshot=" + png, "--window-size=1400,1000", url});
  EXPECT_EQ(RunCommand(shot, dir + "/shot.out", dir + "/shot.log",
                std::chrono::seconds(60)),
            0)
      << ReadFile(dir + "/shot.log");
  EXPECT_TRUE(std::filesystem::exists(png));
  EXPECT_GT(std::filesystem::file_size(png), 1000u);
  std::cerr << "dashboard screenshot: " << png << "\n";
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace
}  // namespace taala
