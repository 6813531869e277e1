#ifndef TAALA_SERVER_POLICY_RELOADER_H_
#define TAALA_SERVER_POLICY_RELOADER_H_

// Loads taalad's --policy_file into a PolicyHolder, and reloads it when its
// content changes (docs/policies.md).

#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/policy.h"

namespace taala {

class PolicyReloader {
 public:
  // `holder` must outlive *this.
  PolicyReloader(std::string file, PolicyLimits limits, PolicyHolder* holder);
  // Stops the thread, if started.
  ~PolicyReloader();
  PolicyReloader(const PolicyReloader&) = delete;
  PolicyReloader& operator=(const PolicyReloader&) = delete;

  // Reads and parses the file and publishes it (generation 1). An error
  // ("<file>: line N: ...", or why the file cannot be read) publishes
  // nothing. Called once, before Start.
  absl::Status LoadInitial();

  // Polls the file every `interval` on a thread of its own; a change of its
  // bytes is reloaded. A refused reload (or an unreadable file) is logged
  // at error and recorded as the state's last_error, the policies in force
  // staying; a successful one is logged at info.
  void Start(absl::Duration interval);

 private:
  void Run(absl::Duration interval);
  void Poll();
  void Refuse(const std::string& error);

  const std::string file_;
  const PolicyLimits limits_;
  PolicyHolder* const holder_;
  // Only the thread (after LoadInitial) reads and writes these.
  // Of the last load attempted; none after the file could not be read.
  std::optional<std::string> last_bytes_;
  std::string last_error_;   // The last one logged ("" after a success).
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace taala

#endif  // TAALA_SERVER_POLICY_RELOADER_H_
