#ifndef TAALA_COMMON_UTF8_H_
#define TAALA_COMMON_UTF8_H_

// UTF-8 validity, for text that reaches a proto3 string field or a JSON
// string from outside (HTTP query parameters, log messages).

#include <cstddef>

#include "absl/strings/string_view.h"

namespace taala {

// The length (1 to 4) of the valid UTF-8 sequence at the start of `s`, or 0
// if there is none there (overlong forms, surrogates and code points past
// U+10FFFF are not valid). `s` must not be empty.
size_t Utf8SequenceLength(absl::string_view s);

// True if all of `s` is valid UTF-8. (server/core/key.h has the table's own
// IsValidUtf8; this one is for the layers that do not include the core.)
bool IsWholeUtf8(absl::string_view s);

}  // namespace taala

#endif  // TAALA_COMMON_UTF8_H_
