#include "server/rpc/caller_views.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "server/auth/token_file.h"
#include "server/core/session.h"
#include "server/rpc/call_identity.h"
#include "server/rpc/translation.h"

namespace taala {
namespace {

// ListOwnSessions reads the table in chunks of kChunk sessions, at most
// kMaxScanned per call: a caller with few sessions among many pays a
// bounded price per page.
constexpr size_t kChunk = 256;
constexpr size_t kMaxScanned = 16 * kChunk;

// A resume token: "r" + 16 hex digits (the id XOR a per-process mask) + 16
// hex digits of a keyed SHA-256 of them, so that a caller can neither read
// the id nor forge a token that probes the mask.
constexpr absl::string_view kResumePrefix = "r";

uint64_t ResumeMask() {
  static const uint64_t mask = [] {
    const std::string hex =
        auth::HashToken(absl::StrCat(InternalCallSecret(), "/page-mask"));
    uint64_t m = 0;
    (void)absl::SimpleHexAtoi(hex.substr(0, 16), &m);
    return m;
  }();
  return mask;
}

std::string ResumeMac(absl::string_view masked_hex) {
  return auth::HashToken(absl::StrCat(InternalCallSecret(), "/page-mac/",
                                      masked_hex))
      .substr(0, 16);
}

std::string ResumeToken(uint64_t after) {
  const std::string masked =
      absl::StrCat(absl::Hex(after ^ ResumeMask(), absl::kZeroPad16));
  return absl::StrCat(kResumePrefix, masked, ResumeMac(masked));
}

}  // namespace

void DropUnreadableBlockers(CallGate& gate, const auth::Identity& who,
                            LockDescription* d) {
  auto unreadable = [&](const HolderInfo& h) {
    return !gate.Allowed(who, auth::Permission::kRead, h.grant.key);
  };
  for (std::vector<HolderInfo>* v :
       {&d->blocked_from_above, &d->blocked_from_below}) {
    v->erase(std::remove_if(v->begin(), v->end(), unreadable), v->end());
  }
}

absl::Status WithoutForeignCycle(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kAborted) return status;
  const absl::string_view message = status.message();
  if (!absl::StartsWith(message, "deadlock: ")) return status;
  // The first step is the caller's own wait and the holder of its key;
  // each ", which waits for key" goes on to another wait. A name that
  // holds these words only makes the cut come earlier: less is shown.
  const size_t cut = message.find(", which waits for key ");
  if (cut == absl::string_view::npos) return status;
  // The closing "; refusing session A's wait for key K" names the caller's
  // session and key (the last such words: later ones would lie in K).
  const size_t refusing = message.rfind("; refusing session ");
  const absl::string_view tail = refusing != absl::string_view::npos &&
                                         refusing > cut
                                     ? message.substr(refusing)
                                     : absl::string_view();
  return absl::AbortedError(absl::StrCat(
      message.substr(0, cut),
      ", which waits in turn (the rest of the cycle is shown only to "
      "callers with `read` on every key)",
      tail));
}

OwnSessionsPage ListOwnSessions(LockTable& table, const auth::Identity& who,
                                uint64_t after, size_t limit) {
  OwnSessionsPage out;
  std::vector<SessionSummary>& mine = out.page.sessions;
  uint64_t cursor = after;
  size_t scanned = 0;
  while (true) {
    SessionPage chunk = table.ListSessions(cursor, kChunk);
    for (size_t i = 0; i < chunk.sessions.size(); ++i) {
      SessionSummary& s = chunk.sessions[i];
      if (!table_internal::OwnerMatches(s.owner, who.name, who.anonymous)) {
        continue;
      }
      mine.push_back(std::move(s));
      if (mine.size() == limit) {
        if (i + 1 < chunk.sessions.size() || chunk.next_after.has_value()) {
          out.page.next_after = mine.back().session_id;
        }
        return out;
      }
    }
    if (!chunk.next_after.has_value()) return out;  // The end.
    cursor = *chunk.next_after;
    scanned += chunk.sessions.size();
    if (scanned >= kMaxScanned) {
      // Go on from the last own session shown, or, with none, from where
      // this call stopped, in a token that does not show that id.
      if (!mine.empty()) {
        out.page.next_after = mine.back().session_id;
      } else {
        out.resume = ResumeToken(cursor);
      }
      return out;
    }
  }
}

absl::StatusOr<uint64_t> FromOwnSessionsToken(const std::string& token) {
  absl::string_view rest = token;
  if (!absl::ConsumePrefix(&rest, kResumePrefix)) {
    return FromSessionPageToken(token);
  }
  uint64_t masked = 0;
  if (rest.size() != 32 || ResumeMac(rest.substr(0, 16)) != rest.substr(16) ||
      !absl::SimpleHexAtoi(rest.substr(0, 16), &masked)) {
    return absl::InvalidArgumentError(
        "page_token: not a token ListSessions returned");
  }
  return masked ^ ResumeMask();
}

}  // namespace taala
