#include "server/core/key.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace taala {

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

absl::Status ValidateKey(absl::string_view key, const KeyLimits& limits) {
  if (key.empty()) {
    return absl::InvalidArgumentError("key: must not be empty");
  }
  if (key.size() > limits.max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("key: ", key.size(), " bytes exceeds the limit of ",
                     limits.max_bytes, " bytes"));
  }
  if (!IsValidUtf8(key)) {
    return absl::InvalidArgumentError("key: not valid UTF-8");
  }
  size_t segments = 1;
  size_t segment_start = 0;
  for (size_t i = 0; i <= key.size(); ++i) {
    if (i == key.size() || key[i] == '/') {
      if (i == segment_start) {
        return absl::InvalidArgumentError(absl::StrCat(
            "key \"", key, "\": empty path segment at byte ", i,
            " (keys are '/'-separated non-empty segments, no leading, "
            "trailing or doubled '/')"));
      }
      if (i < key.size()) ++segments;
      segment_start = i + 1;
    } else if (static_cast<uint8_t>(key[i]) < 0x20 || key[i] == 0x7F) {
      return absl::InvalidArgumentError(absl::StrCat(
          "key: control character at byte ", i, " is not allowed"));
    }
  }
  if (segments > limits.max_segments) {
    return absl::InvalidArgumentError(
        absl::StrCat("key \"", key, "\": ", segments,
                     " segments exceeds the limit of ", limits.max_segments));
  }
  return absl::OkStatus();
}

absl::string_view FirstSegment(absl::string_view key) {
  const size_t slash = key.find('/');
  return slash == absl::string_view::npos ? key : key.substr(0, slash);
}

bool KeyPathLess(absl::string_view a, absl::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] == b[i]) continue;
    // The segment that ends here is a prefix of the other's: it comes first.
    if (a[i] == '/') return true;
    if (b[i] == '/') return false;
    return static_cast<uint8_t>(a[i]) < static_cast<uint8_t>(b[i]);
  }
  return a.size() < b.size();
}

namespace table_internal {

std::string Quote(absl::string_view key) {
  return absl::StrCat("\"", key, "\"");
}

}  // namespace table_internal

}  // namespace taala
