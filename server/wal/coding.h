#ifndef TAALA_SERVER_WAL_CODING_H_
#define TAALA_SERVER_WAL_CODING_H_

// The log's byte-level vocabulary: little-endian fixed-width integers,
// varints (7 bits a byte, low first), zigzag for signed values, length-
// prefixed strings, and absl::Time / absl::Duration as int64 nanoseconds
// with sentinels for the infinities (absl::ToUnixNanos saturates, so a
// finite time past year 2262 reads back as infinite: accepted).
//
// A Decoder reads from a string_view and never reads past its end: every
// Get returns false on a short or malformed
// input; the caller then stops (a failed decoder is not reusable).

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace taala::wal {

void PutFixed32(std::string* out, uint32_t v);
void PutFixed64(std::string* out, uint64_t v);
void EncodeFixed32(char* dst, uint32_t v);
uint32_t DecodeFixed32(const char* src);
uint64_t DecodeFixed64(const char* src);
void PutVarint(std::string* out, uint64_t v);
void PutSigned(std::string* out, int64_t v);  // Zigzag varint.
void PutString(std::string* out, absl::string_view s);
void PutTime(std::string* out, absl::Time t);
void PutDuration(std::string* out, absl::Duration d);

class Decoder {
 public:
  explicit Decoder(absl::string_view in) : in_(in) {}
  bool GetVarint(uint64_t* v);
  bool GetSigned(int64_t* v);
  bool GetString(std::string* s);
  bool GetTime(absl::Time* t);
  bool GetDuration(absl::Duration* d);
  // A varint that must fit in a uint32_t / be at most `max`.
  bool GetU32(uint32_t* v);
  bool GetBounded(uint64_t max, uint64_t* v);
  bool done() const { return in_.empty(); }
  size_t remaining() const { return in_.size(); }

 private:
  absl::string_view in_;
};

}  // namespace taala::wal

#endif  // TAALA_SERVER_WAL_CODING_H_
