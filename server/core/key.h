#ifndef TAALA_SERVER_CORE_KEY_H_
#define TAALA_SERVER_CORE_KEY_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace taala {

struct KeyLimits {
  size_t max_bytes = 1024;
  size_t max_segments = 32;
};

// OK if `key` is a '/'-separated path of non-empty, valid UTF-8 segments
// within `limits`. INVALID_ARGUMENT otherwise, naming the field and the fault.
[[nodiscard]] absl::Status ValidateKey(absl::string_view key,
                                       const KeyLimits& limits);

// True if `s` is well-formed UTF-8 (no overlongs, surrogates or code points
// above U+10FFFF).
bool IsValidUtf8(absl::string_view s);

// The part of `key` before the first '/', or all of it. Keys that share a
// first segment share a shard, so a path's whole tree lives in one shard.
absl::string_view FirstSegment(absl::string_view key);

}  // namespace taala

#endif  // TAALA_SERVER_CORE_KEY_H_
