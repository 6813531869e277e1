#include "tools/utf8.h"

namespace taala::tools {

size_t DecodeCodePoint(absl::string_view s, int32_t* cp) {
  const auto byte = [&s](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t b0 = byte(0);
  *cp = -1;
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t n;
  int32_t value;
  int32_t min;
  if ((b0 & 0xe0) == 0xc0) {
    n = 2;
    value = b0 & 0x1f;
    min = 0x80;
  } else if ((b0 & 0xf0) == 0xe0) {
    n = 3;
    value = b0 & 0x0f;
    min = 0x800;
  } else if ((b0 & 0xf8) == 0xf0) {
    n = 4;
    value = b0 & 0x07;
    min = 0x10000;
  } else {
    return 1;  // A continuation byte or 0xf8..0xff.
  }
  if (s.size() < n) return 1;
  for (size_t i = 1; i < n; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 1;
    value = (value << 6) | (byte(i) & 0x3f);
  }
  if (value < min || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) {
    return 1;
  }
  *cp = value;
  return n;
}

}  // namespace taala::tools
