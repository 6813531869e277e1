#include "tests/integration/taalad_process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace taala::test {
namespace {

std::string MakeTempDir() {
  const char* tmp = getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/taalad_test_XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) return "";
  return pattern;
}

// Data directories of live TaaladProcess objects, with how many use each: a
// test that restarts a daemon on its data directory starts the new daemon
// before it drops the old object, so the directory goes with its last
// user. Only directories this file created (a default data dir) are
// removed.
struct DataDirs {
  std::mutex mu;
  std::map<std::string, int> users;
  std::set<std::string> created;
};
DataDirs& Dirs() {
  static DataDirs* dirs = new DataDirs();
  return *dirs;
}
void UseDataDir(const std::string& dir, bool created) {
  DataDirs& d = Dirs();
  std::lock_guard<std::mutex> lock(d.mu);
  ++d.users[dir];
  if (created) d.created.insert(dir);
}
void DropDataDir(const std::string& dir) {
  DataDirs& d = Dirs();
  std::lock_guard<std::mutex> lock(d.mu);
  if (--d.users[dir] > 0) return;
  d.users.erase(dir);
  if (d.created.erase(dir) > 0) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Starts `argv` (argv[0] the binary) with stdout and stderr to `log_path`.
// Returns the child's pid, or -1 if fork failed.
pid_t Spawn(std::vector<std::string> argv, const std::string& log_path) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // The daemon dies with the test, even if the test is killed.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
  }
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  execv(cargv[0], cargv.data());
  _exit(127);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TaaladProcess>> TaaladProcess::Start(
    std::vector<std::string> args, std::string data_dir) {
  std::unique_ptr<TaaladProcess> p(new TaaladProcess());
  const std::string dir = MakeTempDir();
  if (dir.empty()) return absl::InternalError("mkdtemp failed");
  p->temp_dir_ = dir;
  p->data_dir_ = data_dir.empty() ? dir + "-data" : data_dir;
  UseDataDir(p->data_dir_, data_dir.empty());
  p->log_path_ = dir + "/taalad.log";
  const std::string port_file = dir + "/port";
  const std::string admin_port_file = dir + "/admin_port";

  std::vector<std::string> argv = {
      TAALAD_PATH, "--listen=127.0.0.1:0", "--port_file=" + port_file,
      "--data_dir=" + p->data_dir_, "--admin_listen=127.0.0.1:0",
      "--admin_port_file=" + admin_port_file};
  argv.insert(argv.end(), args.begin(), args.end());
  // Tests do not wait for idle connections to drain.
  argv.push_back("--drain_timeout=200ms");
  // Abort on any lock-order inversion in the real daemon.
  argv.push_back("--check_lock_order");

  const pid_t pid = Spawn(argv, p->log_path_);
  if (pid < 0) return absl::InternalError("fork failed");
  p->pid_ = pid;
  // Wait for the port file (written once the daemon serves).
  for (int i = 0; i < 2000; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      p->pid_ = -1;
      return absl::InternalError(absl::StrCat(
          "taalad exited during start (",
          WIFEXITED(status) ? absl::StrCat("exit status ", WEXITSTATUS(status))
                            : absl::StrCat("signal ", WTERMSIG(status)),
          "):\n", p->Log()));
    }
    std::string text = ReadFile(port_file);
    int port = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port) &&
        port > 0) {
      p->port_ = port;
      // Written before the port file; absent if the test turned the
      // listener off.
      int admin_port = 0;
      if (absl::SimpleAtoi(
              absl::StripAsciiWhitespace(ReadFile(admin_port_file)),
              &admin_port)) {
        p->admin_port_ = admin_port;
      }
      return p;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("taalad did not start within 20s:\n", p->Log()));
}

TaaladProcess::~TaaladProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ignored;
  std::filesystem::remove_all(temp_dir_, ignored);
  DropDataDir(data_dir_);
}

int TaaladProcess::Stop(int timeout_ms) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return -1;
}

absl::StatusOr<std::unique_ptr<TaaladProcess>> TaaladProcess::StartOnPort(
    int port, std::vector<std::string> args, std::string data_dir,
    int timeout_ms) {
  // Later flags win: this overrides Start's --listen=127.0.0.1:0.
  args.push_back(absl::StrCat("--listen=127.0.0.1:", port));
  const auto give_up = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(timeout_ms);
  while (true) {
    absl::StatusOr<std::unique_ptr<TaaladProcess>> p = Start(args, data_dir);
    if (p.ok() || std::chrono::steady_clock::now() >= give_up ||
        p.status().message().find("cannot listen") == std::string::npos) {
      return p;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void TaaladProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int TaaladProcess::WaitForExit(int timeout_ms) {
  if (pid_ <= 0) return -1;
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill();
  return -1;
}

int TaaladProcess::ThreadCount() const {
  std::ifstream in(absl::StrCat("/proc/", pid_, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "Threads:")) {
      int n = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &n)) return n;
    }
  }
  return -1;
}

std::string TaaladProcess::Log() const { return ReadFile(log_path_); }

absl::StatusOr<TaaladExit> RunTaaladToExit(std::vector<std::string> args,
                                           int timeout_ms) {
  const std::string dir = MakeTempDir();
  if (dir.empty()) return absl::InternalError("mkdtemp failed");
  const std::string log_path = dir + "/taalad.log";
  args.insert(args.begin(), TAALAD_PATH);
  const pid_t pid = Spawn(args, log_path);
  if (pid < 0) return absl::InternalError("fork failed");
  TaaladExit result;
  int status = 0;
  bool done = false;
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      done = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  } else if (WIFEXITED(status)) {
    result.exited = true;
    result.exit_code = WEXITSTATUS(status);
  }
  result.output = ReadFile(log_path);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return result;
}

}  // namespace taala::test
