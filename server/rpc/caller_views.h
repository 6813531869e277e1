#ifndef TAALA_SERVER_RPC_CALLER_VIEWS_H_
#define TAALA_SERVER_RPC_CALLER_VIEWS_H_

// What an answer may show a caller that lacks `read` on some keys
// (docs/security.md): the table answers in full, these cut out what names
// other keys' holders or other identities' sessions.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/auth/identity.h"
#include "server/core/introspection.h"
#include "server/core/lock_table.h"
#include "server/rpc/call_gate.h"

namespace taala {

// Drops from `d`'s blocked_from_above/below the holders of keys `who` may
// not read (not audited: the key asked for was allowed).
void DropUnreadableBlockers(CallGate& gate, const auth::Identity& who,
                            LockDescription* d);

// A deadlock refusal (ABORTED "deadlock: session A (..) waits for key K,
// held by session B (..), which waits ...; refusing ...") cut down to the
// caller's own wait and the holder of the key it asked for: the rest of
// the cycle names keys and sessions the caller may not read. Any other
// status comes back as it is.
absl::Status WithoutForeignCycle(const absl::Status& status);

// One ListSessions page of `who`'s own sessions after `after`, up to
// `limit` of them: it reads on past other identities' sessions (at most
// kMaxScanned per call) so that its next_after is always one of `who`'s
// sessions. When it stops at that bound before it found any, the page is
// empty, next_after unset, and `*resume` an opaque token (not an id) to go
// on from.
struct OwnSessionsPage {
  SessionPage page;
  std::optional<std::string> resume;
};
OwnSessionsPage ListOwnSessions(LockTable& table, const auth::Identity& who,
                                uint64_t after, size_t limit);

// The `after` of a ListSessions page_token: an id ListSessions returned, or
// a resume token of ListOwnSessions. INVALID_ARGUMENT otherwise.
absl::StatusOr<uint64_t> FromOwnSessionsToken(const std::string& token);

}  // namespace taala

#endif  // TAALA_SERVER_RPC_CALLER_VIEWS_H_
