#ifndef TAALA_TESTS_INTEGRATION_TAALAD_PROCESS_H_
#define TAALA_TESTS_INTEGRATION_TAALAD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace taala::test {

// A real taalad child process on a loopback port chosen by the kernel
// (--listen=127.0.0.1:0, read back from --port_file), with its HTTP admin
// listener on another such port (--admin_listen=127.0.0.1:0, read back from
// --admin_port_file) so that parallel tests never meet on 7071. Its log
// goes to a file that is printed if the test fails.
class TaaladProcess {
 public:
  // Starts taalad with `args` added to the listen/port/data-dir flags.
  // `data_dir` empty: a fresh temporary directory.
  static absl::StatusOr<std::unique_ptr<TaaladProcess>> Start(
      std::vector<std::string> args = {}, std::string data_dir = "");
  // Start on 127.0.0.1:`port` (a restart on the port of a daemon that just
  // died), retrying while the port is not yet free, up to `timeout_ms`.
  static absl::StatusOr<std::unique_ptr<TaaladProcess>> StartOnPort(
      int port, std::vector<std::string> args, std::string data_dir,
      int timeout_ms = 30000);
  ~TaaladProcess();  // Stops the daemon (SIGKILL if still running).

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  // The admin listener's port; 0 if the test turned it off
  // (--admin_listen=).
  int admin_port() const { return admin_port_; }
  std::string admin_address() const {
    return "127.0.0.1:" + std::to_string(admin_port_);
  }
  pid_t pid() const { return pid_; }
  const std::string& data_dir() const { return data_dir_; }

  // Sends SIGTERM and waits; returns the exit status (-1 if killed by a
  // signal or still running after `timeout_ms`, when it is SIGKILLed).
  int Stop(int timeout_ms = 20000);
  // A crash: SIGKILL, then reaps the process. The data directory stays.
  void Kill();
  // Waits up to `timeout_ms` for the daemon to exit by itself; returns its
  // exit status (-1 if killed by a signal, or still running after the
  // timeout, when it is SIGKILLed).
  int WaitForExit(int timeout_ms = 30000);
  // The daemon's current thread count, from /proc/<pid>/status.
  int ThreadCount() const;
  // Everything the daemon has logged so far.
  std::string Log() const;

 private:
  TaaladProcess() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  int admin_port_ = 0;
  std::string temp_dir_;  // Port file, log, and the data dir if not given.
  std::string data_dir_;
  std::string log_path_;
};

// How a taalad run that was expected to end by itself ended.
struct TaaladExit {
  bool exited = false;  // False: killed after the timeout, or by a signal.
  int exit_code = -1;
  std::string output;  // Its stdout and stderr.
};

// Runs taalad with exactly `args` (no flags of ours) and waits up to
// `timeout_ms` for it to exit by itself; SIGKILLs it after that.
absl::StatusOr<TaaladExit> RunTaaladToExit(std::vector<std::string> args,
                                           int timeout_ms);

}  // namespace taala::test

#endif  // TAALA_TESTS_INTEGRATION_TAALAD_PROCESS_H_
