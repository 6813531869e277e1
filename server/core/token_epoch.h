#ifndef TAALA_SERVER_CORE_TOKEN_EPOCH_H_
#define TAALA_SERVER_CORE_TOKEN_EPOCH_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace taala {

// Reads the token epoch stored in `data_dir` (creating the directory if
// needed), stores the next one durably (write to a temporary file, fsync,
// rename, fsync the directory), and returns it. Every daemon start gets a
// larger epoch, so fencing tokens and session ids, which carry the epoch in
// their high bits, never repeat across restarts even without a log.
// Errors: the directory cannot be created or written, the file is corrupt,
// or the epoch space (2^24 starts) is used up.
absl::StatusOr<uint64_t> NextTokenEpoch(const std::string& data_dir);

}  // namespace taala

#endif  // TAALA_SERVER_CORE_TOKEN_EPOCH_H_
