#include "server/core/key.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/ascii.h"
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

namespace {

// The length of the UTF-8 sequence starting at s[i] if it is well-formed,
// else 0.
size_t Utf8Length(absl::string_view s, size_t i) {
  const auto c = static_cast<uint8_t>(s[i]);
  const size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
  if (len == 0 || i + len > s.size()) return 0;
  return IsValidUtf8(s.substr(i, len)) ? len : 0;
}

}  // namespace

int ControlCharAt(absl::string_view s, size_t i) {
  const auto c = static_cast<uint8_t>(s[i]);
  if (c < 0x20 || c == 0x7F) return c;
  if (c == 0xC2 && i + 1 < s.size()) {
    const auto next = static_cast<uint8_t>(s[i + 1]);
    if (next >= 0x80 && next <= 0x9F) return next;  // U+0080..U+009F.
  }
  return -1;
}

std::string EscapeControl(absl::string_view s, bool quotes) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const int control = ControlCharAt(s, i);
    const char c = s[i];
    if (quotes && (c == '\\' || c == '"')) {
      out.push_back('\\');
      out.push_back(c);
      ++i;
    } else if (c == '\n') {
      out += "\\n";
      ++i;
    } else if (c == '\r') {
      out += "\\r";
      ++i;
    } else if (c == '\t') {
      out += "\\t";
      ++i;
    } else if (control >= 0x80) {
      absl::StrAppend(&out, "\\u00", absl::Hex(control, absl::kZeroPad2));
      i += 2;
    } else if (control >= 0) {
      absl::StrAppend(&out, "\\x", absl::Hex(control, absl::kZeroPad2));
      ++i;
    } else if (const size_t len = Utf8Length(s, i); len > 0) {
      out.append(s.data() + i, len);  // Printable UTF-8 stays readable.
      i += len;
    } else {
      absl::StrAppend(&out, "\\x",
                      absl::Hex(static_cast<uint8_t>(c), absl::kZeroPad2));
      ++i;
    }
  }
  return out;
}

absl::Status ValidateKeyPrefix(absl::string_view field,
                               absl::string_view prefix, size_t max_bytes) {
  if (prefix.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", prefix.size(), " bytes exceeds the limit of ",
                     max_bytes));
  }
  if (!IsValidUtf8(prefix)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": not valid UTF-8"));
  }
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (const int control = ControlCharAt(prefix, i); control >= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " ", table_internal::Quote(prefix), ": control character U+",
          absl::AsciiStrToUpper(
              absl::StrCat(absl::Hex(control, absl::kZeroPad4))),
          " at byte ", i, " is not allowed"));
    }
  }
  return absl::OkStatus();
}

namespace {

absl::Status CheckKey(absl::string_view key, const KeyLimits& limits,
                      bool refuse_controls) {
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
  // Control characters first, so that no message below quotes one. C1
  // (U+0080..U+009F) too: U+0085 breaks lines and U+009B is a one-byte CSI
  // to some terminals, and keys reach logs and terminals.
  for (size_t i = 0; refuse_controls && i < key.size(); ++i) {
    if (const int control = ControlCharAt(key, i); control >= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "key ", table_internal::Quote(key), ": control character U+",
          absl::AsciiStrToUpper(
              absl::StrCat(absl::Hex(control, absl::kZeroPad4))),
          " at byte ", i, " is not allowed"));
    }
  }
  size_t segments = 1;
  size_t segment_start = 0;
  for (size_t i = 0; i <= key.size(); ++i) {
    if (i == key.size() || key[i] == '/') {
      if (i == segment_start) {
        return absl::InvalidArgumentError(absl::StrCat(
            "key ", table_internal::Quote(key), ": empty path segment at byte ",
            i,
            " (keys are '/'-separated non-empty segments, no leading, "
            "trailing or doubled '/')"));
      }
      if (i < key.size()) ++segments;
      segment_start = i + 1;
    }
  }
  if (segments > limits.max_segments) {
    return absl::InvalidArgumentError(
        absl::StrCat("key ", table_internal::Quote(key), ": ", segments,
                     " segments exceeds the limit of ", limits.max_segments));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateKey(absl::string_view key, const KeyLimits& limits) {
  return CheckKey(key, limits, /*refuse_controls=*/true);
}

absl::Status ValidateExistingKey(absl::string_view key,
                                 const KeyLimits& limits) {
  return CheckKey(key, limits, /*refuse_controls=*/false);
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
  return absl::StrCat("\"", EscapeControl(key), "\"");
}

}  // namespace table_internal

}  // namespace taala
