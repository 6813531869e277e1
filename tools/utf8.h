// File: tools/utf8.h
// -----------------------------------------------------------------------------
// UTF-8 decoding for taalactl's output: JSON escaping, terminal-safe text and
// column widths.

#ifndef TAALA_TOOLS_UTF8_H_
#define TAALA_TOOLS_UTF8_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace taala::tools {

// The length of the well-formed UTF-8 sequence at the start of `s` (1 to 4),
// with its code point in `*cp`; or 1 with *cp = -1 if `s` does not start with
// one (overlongs, surrogates, > U+10FFFF and truncated sequences included).
// REQUIRES: !s.empty().
size_t DecodeCodePoint(absl::string_view s, int32_t* cp);

// Calls fn(bytes, code_point) for each code point of `s` in order; an
// ill-formed byte comes alone with code_point -1.
template <typename Fn>
void ForEachCodePoint(absl::string_view s, Fn&& fn) {
  while (!s.empty()) {
    int32_t cp;
    const size_t n = DecodeCodePoint(s, &cp);
    fn(s.substr(0, n), cp);
    s.remove_prefix(n);
  }
}

}  // namespace taala::tools

#endif  // TAALA_TOOLS_UTF8_H_
