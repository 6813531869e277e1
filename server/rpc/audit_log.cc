#include "server/rpc/audit_log.h"

#include <spdlog/spdlog.h>

#include <string>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace taala {

std::string AuditEscape(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto b = static_cast<uint8_t>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (b < 0x20 || b >= 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", b);
    } else {
      out += c;
    }
  }
  return out;
}

AuditLog::AuditLog()
    : AuditLog([](const std::string& line) { spdlog::warn("{}", line); },
               [] { return absl::Now(); }) {}

AuditLog::AuditLog(std::function<void(const std::string&)> sink,
                   std::function<absl::Time()> now)
    : sink_(std::move(sink)), now_(std::move(now)) {}

void AuditLog::Refused(const auth::Identity& who, absl::string_view call,
                       absl::string_view key, const absl::Status& status) {
  Write(who.name,
        absl::StrCat("audit: refused call=", AuditEscape(call), " identity=\"",
                     AuditEscape(who.name), "\" key=\"", AuditEscape(key),
                     "\" code=", absl::StatusCodeToString(status.code()),
                     " reason=\"", AuditEscape(status.message()), "\""));
}

void AuditLog::AdminAction(const auth::Identity& who, absl::string_view call,
                           absl::string_view key, absl::string_view what) {
  Write(who.name,
        absl::StrCat("audit: admin call=", AuditEscape(call), " identity=\"",
                     AuditEscape(who.name), "\" key=\"", AuditEscape(key),
                     "\" action=\"", AuditEscape(what), "\""));
}

void AuditLog::Write(absl::string_view identity, std::string line) {
  const absl::Time now = now_();
  Shard& shard = shards_[(absl::HashOf(identity) >> 32) % kShards];
  std::vector<std::string> summaries;
  bool write = false;
  uint64_t suppressed = 0;
  {
    absl::MutexLock lock(&shard.mu);
    if (now >= shard.next_sweep) SweepLocked(shard, now, &summaries);
    auto [it, inserted] = shard.entries.try_emplace(identity);
    Entry& e = it->second;
    if (inserted || now - e.window_start >= absl::Seconds(1)) {
      e.window_start = now;
      e.written = 0;
    }
    if (e.written < kLinesPerSecond) {
      ++e.written;
      write = true;
      suppressed = std::exchange(e.suppressed, 0);
    } else {
      ++e.suppressed;
    }
  }
  // Outside the shard's mutex: the sink may block on I/O.
  for (const std::string& s : summaries) sink_(s);
  if (!write) return;
  if (suppressed > 0) {
    absl::StrAppend(&line, " (", suppressed,
                    " earlier audit lines of this identity suppressed)");
  }
  sink_(line);
}

void AuditLog::SweepLocked(Shard& shard, absl::Time now,
                           std::vector<std::string>* summaries) {
  for (auto it = shard.entries.begin(); it != shard.entries.end();) {
    auto here = it++;
    const Entry& e = here->second;
    const absl::Duration idle = now - e.window_start;
    if (idle < absl::Seconds(1)) continue;
    if (e.suppressed > 0) {
      // Give the identity's own next line a window to carry the count.
      if (idle < absl::Seconds(2)) continue;
      summaries->push_back(absl::StrCat(
          "audit: identity=\"", AuditEscape(here->first), "\" ",
          e.suppressed, " audit lines suppressed (over ", kLinesPerSecond,
          " per second)"));
    }
    shard.entries.erase(here);
  }
  shard.next_sweep = now + absl::Seconds(1);
}

size_t AuditLog::EntryCount() {
  size_t n = 0;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    n += shard.entries.size();
  }
  return n;
}

}  // namespace taala
