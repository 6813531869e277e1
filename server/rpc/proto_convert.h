#ifndef TAALA_SERVER_RPC_PROTO_CONVERT_H_
#define TAALA_SERVER_RPC_PROTO_CONVERT_H_

// Translation between taala.v1 messages and the lock table's types.

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/lock_table.h"
#include "taala/v1/lock_service.pb.h"

namespace taala {

// UNSPECIFIED and EXCLUSIVE are kExclusive. INVALID_ARGUMENT for values the
// proto does not define.
absl::StatusOr<LockMode> FromProtoMode(int mode);
v1::LockMode ToProtoMode(LockMode mode);

// Fills `out` as of `now` (held_for_ms, max_hold_remaining_ms).
void ToProto(const Grant& grant, absl::Time now, v1::Grant* out);
void ToProto(const SessionEvent& event, v1::SessionEvent* out);
void ToProto(const LockDescription& d, absl::Time now,
             v1::DescribeLockResponse* out);
void ToProto(const HolderInfo& h, absl::Time now, v1::Holder* out);
// As of `now` (held_for_ms of each holder).
void ToProto(const LockSummary& lock, absl::Time now, v1::LockSummary* out);
// As of `now` (expires_in_ms, never negative).
void ToProto(const SessionSummary& session, absl::Time now,
             v1::SessionSummary* out);

}  // namespace taala

#endif  // TAALA_SERVER_RPC_PROTO_CONVERT_H_
