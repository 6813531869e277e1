#ifndef TAALA_SERVER_RPC_AUDIT_LOG_H_
#define TAALA_SERVER_RPC_AUDIT_LOG_H_

// The audit trail in the log (docs/security.md): one warning line per
// refused call and per admin action, with the identity, the call, the key
// and why; at most kLinesPerSecond lines per second per identity, the rest
// counted and reported as suppressed with the next line written for that
// identity (or, if it writes none within the next second, in a summary
// line written by a later sweep of its shard).
//
// Every field a client chose (identity names come from certificates, tokens
// files and peer addresses; keys and reasons from requests) is escaped
// (AuditEscape) so that no value can end the line or forge another one.
//
// Memory: one small entry per identity that had a line in the last second
// (swept as calls come in), in shards with their own mutex.

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/auth/identity.h"

namespace taala {

// `s` with bytes below 0x20, DEL, '"', '\\' and every byte >= 0x80 written
// as \xNN (or \" and \\): plain ASCII, one line, and a quoted field cannot
// be closed from inside.
std::string AuditEscape(absl::string_view s);

// Thread safety: every method may be called concurrently. Never call it
// with a table mutex held (it logs).
class AuditLog {
 public:
  static constexpr int kLinesPerSecond = 10;

  // Lines go to spdlog::warn, time from absl::Now.
  AuditLog();
  // Tests: lines go to `sink`, time comes from `now`.
  AuditLog(std::function<void(const std::string&)> sink,
           std::function<absl::Time()> now);
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void Refused(const auth::Identity& who, absl::string_view call,
               absl::string_view key, const absl::Status& status);
  void AdminAction(const auth::Identity& who, absl::string_view call,
                   absl::string_view key, absl::string_view what);

  // Identities with an entry (tests: the memory bound).
  size_t EntryCount();

 private:
  struct Entry {
    absl::Time window_start;
    int written = 0;          // lines written in the window
    uint64_t suppressed = 0;  // lines dropped since the last written one
  };
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, Entry> entries ABSL_GUARDED_BY(mu);
    absl::Time next_sweep ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  };
  static constexpr size_t kShards = 16;

  // Writes `line` for `identity` unless over its rate.
  void Write(absl::string_view identity, std::string line);
  // Drops entries idle for a window; those with suppressed lines are
  // returned as summary lines (written by the caller, after unlocking).
  void SweepLocked(Shard& shard, absl::Time now,
                   std::vector<std::string>* summaries)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  const std::function<void(const std::string&)> sink_;
  const std::function<absl::Time()> now_;
  std::array<Shard, kShards> shards_;
};

}  // namespace taala

#endif  // TAALA_SERVER_RPC_AUDIT_LOG_H_
