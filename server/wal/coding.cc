#include "server/wal/coding.h"

#include <limits>

namespace taala::wal {
namespace {

constexpr int64_t kPastSentinel = std::numeric_limits<int64_t>::min();
constexpr int64_t kFutureSentinel = std::numeric_limits<int64_t>::max();

}  // namespace

void EncodeFixed32(char* dst, uint32_t v) {
  for (int i = 0; i < 4; ++i) dst[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

uint32_t DecodeFixed32(const char* src) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v |= static_cast<uint32_t>(static_cast<unsigned char>(src[i])) << (8 * i);
  }
  return v;
}

uint64_t DecodeFixed64(const char* src) {
  return static_cast<uint64_t>(DecodeFixed32(src)) |
         (static_cast<uint64_t>(DecodeFixed32(src + 4)) << 32);
}

void PutFixed32(std::string* out, uint32_t v) {
  char buf[4];
  EncodeFixed32(buf, v);
  out->append(buf, 4);
}

void PutFixed64(std::string* out, uint64_t v) {
  PutFixed32(out, static_cast<uint32_t>(v));
  PutFixed32(out, static_cast<uint32_t>(v >> 32));
}

void PutVarint(std::string* out, uint64_t v) {
  char buf[10];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

void PutSigned(std::string* out, int64_t v) {
  const uint64_t u = static_cast<uint64_t>(v);
  PutVarint(out, (u << 1) ^ static_cast<uint64_t>(v >> 63));
}

void PutString(std::string* out, absl::string_view s) {
  PutVarint(out, s.size());
  out->append(s.data(), s.size());
}

void PutTime(std::string* out, absl::Time t) {
  // Since the epoch; the infinite times are the infinite durations.
  PutDuration(out, t - absl::UnixEpoch());
}

void PutDuration(std::string* out, absl::Duration d) {
  if (d == absl::InfiniteDuration()) return PutSigned(out, kFutureSentinel);
  if (d == -absl::InfiniteDuration()) return PutSigned(out, kPastSentinel);
  int64_t ns = absl::ToInt64Nanoseconds(d);
  if (ns == kPastSentinel) ++ns;
  if (ns == kFutureSentinel) --ns;
  PutSigned(out, ns);
}

bool Decoder::GetVarint(uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in_.empty()) return false;
    const auto byte = static_cast<unsigned char>(in_.front());
    in_.remove_prefix(1);
    if (shift == 63 && byte > 1) return false;  // Overflows 64 bits.
    result |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

bool Decoder::GetSigned(int64_t* v) {
  uint64_t u;
  if (!GetVarint(&u)) return false;
  *v = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  return true;
}

bool Decoder::GetString(std::string* s) {
  uint64_t n;
  if (!GetVarint(&n) || n > in_.size()) return false;
  s->assign(in_.data(), n);
  in_.remove_prefix(n);
  return true;
}

bool Decoder::GetTime(absl::Time* t) {
  absl::Duration since_epoch;
  if (!GetDuration(&since_epoch)) return false;
  *t = absl::UnixEpoch() + since_epoch;
  return true;
}

bool Decoder::GetDuration(absl::Duration* d) {
  int64_t ns;
  if (!GetSigned(&ns)) return false;
  if (ns == kPastSentinel) {
    *d = -absl::InfiniteDuration();
  } else if (ns == kFutureSentinel) {
    *d = absl::InfiniteDuration();
  } else {
    *d = absl::Nanoseconds(ns);
  }
  return true;
}

bool Decoder::GetU32(uint32_t* v) {
  uint64_t u;
  if (!GetBounded(std::numeric_limits<uint32_t>::max(), &u)) return false;
  *v = static_cast<uint32_t>(u);
  return true;
}

bool Decoder::GetBounded(uint64_t max, uint64_t* v) {
  return GetVarint(v) && *v <= max;
}

}  // namespace taala::wal
