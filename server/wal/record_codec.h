#ifndef TAALA_SERVER_WAL_RECORD_CODEC_H_
#define TAALA_SERVER_WAL_RECORD_CODEC_H_

// The payloads the log stores: one Transition per record, one DurableState
// per snapshot body. Binary and compact (coding.h): a record is its type
// byte, its LSN, a varint bitmask of the fields that differ from their
// defaults, then those fields in a fixed order. Decoding rejects anything
// malformed (unknown type, mode, reason or field bit, a short or trailing
// byte) and never reads past the input.

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "server/core/durable_state.h"
#include "server/core/transition.h"

namespace taala::wal {

// Appends `t`'s payload (with t.lsn) to `*out`.
void EncodeTransition(const Transition& t, std::string* out);
// The same with `lsn` in place of t.lsn (the log's hot path: no copy).
void EncodeTransitionAs(const Transition& t, uint64_t lsn, std::string* out);
// False on any malformation; `*out` is then unspecified.
bool DecodeTransition(absl::string_view payload, Transition* out);

std::string EncodeSnapshotBody(const DurableState& state);
bool DecodeSnapshotBody(absl::string_view body, DurableState* out);

}  // namespace taala::wal

#endif  // TAALA_SERVER_WAL_RECORD_CODEC_H_
