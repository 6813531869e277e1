#ifndef TAALA_SERVER_WAL_CRC32C_H_
#define TAALA_SERVER_WAL_CRC32C_H_

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
// every log frame and snapshot body. Table-driven, one byte at a time:
// Debian 12's Abseil has no absl/crc.

#include <cstdint>

#include "absl/strings/string_view.h"

namespace taala::wal {

// The CRC-32C of `data`, or, given the CRC of a prefix as `crc`, of the
// prefix followed by `data` (extend). Crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(absl::string_view data, uint32_t crc = 0);

}  // namespace taala::wal

#endif  // TAALA_SERVER_WAL_CRC32C_H_
