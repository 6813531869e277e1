#ifndef TAALA_SERVER_RPC_TRANSLATION_H_
#define TAALA_SERVER_RPC_TRANSLATION_H_

// Translation between taala.v1 messages and taala_core's commands and
// results, in one place: requests become commands (with the time `now` the
// caller read from its Clock), results become responses as of `now`.
// Durations on the wire go through common/wire_time.h. Plain protobuf
// messages only: nothing here needs gRPC.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/key.h"
#include "server/core/lock_table.h"
#include "server/core/multi_acquire.h"
#include "server/core/policy.h"
#include "google/protobuf/message_lite.h"
#include "taala/v1/lock_service.pb.h"

namespace taala {

// --- Modes ---------------------------------------------------------------

// UNSPECIFIED and EXCLUSIVE are kExclusive. INVALID_ARGUMENT for values the
// proto does not define.
absl::StatusOr<LockMode> FromProtoMode(int mode);
v1::LockMode ToProtoMode(LockMode mode);

// --- Requests to commands ------------------------------------------------

// `session_id` comes from LockTable::NewSessionId.
CreateSessionCmd ToCreateSessionCmd(const v1::CreateSessionRequest& req,
                                    uint64_t session_id, absl::Time now);
// Moves the key out of `req`. INVALID_ARGUMENT: unknown mode. A field the
// request leaves unset (wait_timeout_ms, max_hold_ms, semaphore_size,
// lock_delay_ms) takes the value of the key's policy in `policies` (the
// longest matching prefix; null: none), if it sets one, else 0.
absl::StatusOr<AcquireCmd> ToAcquireCmd(v1::AcquireRequest* req,
                                        absl::Time now,
                                        const PolicySet* policies = nullptr);
// Moves the keys out of `req`. INVALID_ARGUMENT, naming the field: no keys
// or too many, negative max_hold_ms or lock_delay_ms, a malformed key
// (against `limits`) or unknown mode. A key listed twice is MultiAcquire's
// to refuse. Unset max_hold_ms and lock_delay_ms take each key's policy;
// an unset wait_timeout_ms the shortest wait timeout the keys' policies
// set (forever is the longest), else 0.
absl::StatusOr<MultiAcquireCmd> ToMultiAcquireCmd(
    v1::AcquireAllRequest* req, const KeyLimits& limits, absl::Time now,
    const PolicySet* policies = nullptr);
// Moves the key out of `req`.
ReleaseCmd ToReleaseCmd(v1::ReleaseRequest* req, absl::Time now);

// ListLocks' filters as of `now`; a negative held_longer_than_ms is the
// table's to refuse (LockTable::ListLocks).
ListLocksFilter ToListLocksFilter(const v1::ListLocksRequest& req,
                                  absl::Time now);

// Listing limits: 0 takes the default, larger than the maximum is lowered
// to it.
uint32_t PageSize(uint32_t requested);    // 100, at most 1000.
uint32_t MaxWaiters(uint32_t requested);  // DescribeLock: 1000, at most 100000.
// GetWaitForGraph: 0 takes 10000; above 10000 is INVALID_ARGUMENT, naming
// the cap (the listing holds the wait-for graph's mutex).
absl::StatusOr<uint32_t> MaxEdges(uint32_t requested);

// ListSessions' page token is the last session id of the previous page, in
// decimal; "" is the first page (0). INVALID_ARGUMENT for anything else.
absl::StatusOr<uint64_t> FromSessionPageToken(const std::string& token);

// --- Reply size ----------------------------------------------------------

// Replies stay under this many bytes, serialized: a gRPC client refuses a
// reply over 4 MiB by default (RESOURCE_EXHAUSTED), and a listing of
// labelled holders (up to ~18 KB each) passes that long before its item
// cap. Items are added while they fit: a listing stops early with a
// next_page_token after the last item included, a report sets `truncated`,
// DescribeLock lists fewer waiters, then fewer holders (holder_count tells
// all). Never a failed call. The rest of a reply (a key, counts) is small
// against the 1 MiB left.
inline constexpr size_t kReplyBudgetBytes = size_t{3} << 20;

// The bytes `m` takes in its parent as one element of a repeated field
// numbered under 16: tag, length and body.
size_t ElementBytes(const google::protobuf::MessageLite& m);

// --- Results to responses ------------------------------------------------

void ToProto(const SessionInfo& info, v1::CreateSessionResponse* out);
// A keepalive acknowledgement: the session and its TTL.
void ToKeepAliveAck(uint64_t session_id, absl::Duration ttl,
                    v1::KeepAliveResponse* out);
// ACQUIRED with the grant, or TIMED_OUT.
void ToProto(const AcquireResult& result, absl::Time now,
             v1::AcquireResponse* out);
// ACQUIRED with the grants in request order, or TIMED_OUT.
void ToProto(const MultiAcquireResult& result, absl::Time now,
             v1::AcquireAllResponse* out);
// Fills `out` as of `now` (held_for_ms, max_hold_remaining_ms).
void ToProto(const Grant& grant, absl::Time now, v1::Grant* out);
void ToProto(const SessionEvent& event, v1::SessionEvent* out);
// Within `budget` bytes: holders first, then tree blockers, then waiters,
// each list cut where the next item would not fit.
void ToProto(const LockDescription& d, absl::Time now,
             v1::DescribeLockResponse* out,
             size_t budget = kReplyBudgetBytes);
// As of `now` (held_for_ms), with the session's labels.
void ToProto(const HolderInfo& h, absl::Time now, v1::Holder* out);
// As of `now` (held_for_ms of each holder). Within `budget` bytes: a page
// ends early (next_page_token: the last key included); a first key whose
// holders alone pass the budget lists those that fit (holder_count: all).
void ToProto(const LockPage& page, absl::Time now, v1::ListLocksResponse* out,
             size_t budget = kReplyBudgetBytes);
// As of `now` (expires_in_ms, never negative).
void ToProto(const SessionSummary& session, absl::Time now,
             v1::SessionSummary* out);
// Within `budget` bytes: a page ends early (next_page_token: the last
// session id included).
void ToProto(const SessionPage& page, absl::Time now,
             v1::ListSessionsResponse* out,
             size_t budget = kReplyBudgetBytes);
void ToProto(const WaitForGraph::Edge& edge, v1::WaitForEdge* out);

}  // namespace taala

#endif  // TAALA_SERVER_RPC_TRANSLATION_H_
