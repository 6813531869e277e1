#ifndef TAALA_SERVER_CORE_KEY_H_
#define TAALA_SERVER_CORE_KEY_H_

#include <cstddef>
#include <string>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace taala {

struct KeyLimits {
  size_t max_bytes = 1024;
  size_t max_segments = 32;
};

// OK if `key` is a '/'-separated path of non-empty, valid UTF-8 segments
// within `limits`, with no control character (C0, DEL, or C1: U+0080..
// U+009F). INVALID_ARGUMENT otherwise, naming the field, the key (escaped)
// and the fault.
[[nodiscard]] absl::Status ValidateKey(absl::string_view key,
                                       const KeyLimits& limits);

// ValidateKey for a key that names one that may already exist (Release,
// CheckFence, DescribeLock, ForceRelease, GetLockStats): everything but
// the control characters. An earlier release accepted C1 (and a table
// restored from its snapshot or log may hold such a key), and its holder
// and operators must still be able to release it; keys are refused control
// characters where they are created (Acquire, AcquireAll, Watch).
[[nodiscard]] absl::Status ValidateExistingKey(absl::string_view key,
                                               const KeyLimits& limits);

// OK if `prefix` (a listing's or a watch's key prefix, or a page token:
// `field` names it) could begin a valid key: at most `max_bytes`, UTF-8,
// no control character (C0, DEL, C1). May be empty. INVALID_ARGUMENT
// naming the field and the fault otherwise.
[[nodiscard]] absl::Status ValidateKeyPrefix(absl::string_view field,
                                             absl::string_view prefix,
                                             size_t max_bytes);

// True if `s` is well-formed UTF-8 (no overlongs, surrogates or code points
// above U+10FFFF).
bool IsValidUtf8(absl::string_view s);

// The control character at s[i] (C0 and DEL: its byte; C1, U+0080..U+009F
// as the two bytes C2 80..C2 9F: its code point), or -1.
int ControlCharAt(absl::string_view s, size_t i);

// `s` for a log line or message: control characters escaped (\n, \r, \t,
// \xNN for C0 and DEL, \u00NN for C1), ill-formed UTF-8 bytes as \xNN,
// and with `quotes` '\\' and '"' escaped too (for text shown in quotes);
// printable UTF-8 kept as it is. The result holds no control byte, so one
// event stays one line.
std::string EscapeControl(absl::string_view s, bool quotes = true);

// The part of `key` before the first '/', or all of it. Keys that share a
// first segment share a shard, so a path's whole tree lives in one shard.
absl::string_view FirstSegment(absl::string_view key);

// The order of keys as paths, segment by segment: "a" < "a/b" < "a/b/c" <
// "a-x" < "a.b/c" < "b". An ancestor comes before its descendants and a
// key's subtree is contiguous, whatever bytes (such as '-' or '.', which sort
// below '/') its segments hold. Bytewise within a segment. A strict weak
// order (it is bytewise order with '/' ranked below every other byte).
bool KeyPathLess(absl::string_view a, absl::string_view b);

// Key-path helpers for the table's rooms.
namespace table_internal {

// "\"key\"": a key as messages quote it (EscapeControl'd).
std::string Quote(absl::string_view key);

// "a" and "a/b" for "a/b/c": the key's proper ancestors, shortest first.
// None for a flat key (no allocation either).
// Inline: on every grant, release and tree check of a hierarchical key.
inline absl::InlinedVector<absl::string_view, 4> Ancestors(
    absl::string_view key) {
  absl::InlinedVector<absl::string_view, 4> out;
  for (size_t i = key.find('/'); i != absl::string_view::npos;
       i = key.find('/', i + 1)) {
    out.push_back(key.substr(0, i));
  }
  return out;
}

// True if `other` lies strictly below `key` in the tree ("a/b/c" below "a/b",
// but not "a/bc").
inline bool IsBelow(absl::string_view other, absl::string_view key) {
  return other.size() > key.size() && other[key.size()] == '/' &&
         other.substr(0, key.size()) == key;
}

}  // namespace table_internal

}  // namespace taala

#endif  // TAALA_SERVER_CORE_KEY_H_
