#ifndef TAALA_SERVER_WAL_FILES_H_
#define TAALA_SERVER_WAL_FILES_H_

// The data directory's layout and the file operations the log needs.
//
//   <dir>/wal/<20-digit first LSN>.log     log segments
//   <dir>/snapshot/<20-digit LSN>.snap     snapshots (snapshot_file.h)
//   <dir>/lsn_reserved                     highest LSN that may have been issued
//   <dir>/max_session_ttl                  longest session TTL granted (ms)
//   <dir>/run_state                        "<mode> running" | "<mode> clean"
//   <dir>/grants_refused_until             end of a grant refusal window
//                                          (unix ms, wall clock)
//   <dir>/token_epoch                      today's format (adopted once)
//
// A segment starts with a 16-byte header: "TAALAWAL", u32 LE format version
// (kSegmentVersion), u32 LE low 32 bits of the LSN of the last record
// written before this segment (0: none). Then frames: u32 LE payload
// length, u32 LE CRC32C of the payload, the payload (record_codec.h).
// The third header field chains the segments: a segment that lost whole
// records at its end (cut at a frame boundary) is caught because the next
// segment's header names a later last record. Not caught: whole frames cut
// out of the middle of a segment (LSN gaps are legal: TakeNumber).
//
// Errors name the file and the errno text.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace taala::wal {

inline constexpr char kSegmentMagic[] = "TAALAWAL";  // 8 bytes, no NUL.
inline constexpr uint32_t kSegmentVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 16;
inline constexpr size_t kFrameHeaderSize = 8;
inline constexpr uint32_t kMaxPayload = 16u << 20;  // Longer: corrupt.

std::string WalDir(const std::string& dir);
std::string SnapshotDir(const std::string& dir);
std::string SegmentPath(const std::string& dir, uint64_t first_lsn);
std::string SnapshotPath(const std::string& dir, uint64_t lsn);
std::string ReservationPath(const std::string& dir);
std::string SessionTtlPath(const std::string& dir);
std::string RunStatePath(const std::string& dir);
std::string GrantsRefusedUntilPath(const std::string& dir);
std::string TokenEpochPath(const std::string& dir);

// The segment header, and one frame around `payload` appended to `*out`.
std::string SegmentHeader(uint64_t previous_last_lsn);
uint32_t SegmentChainValue(uint64_t previous_last_lsn);
void AppendFrame(absl::string_view payload, std::string* out);

// "<what> <path>: <strerror(errno)>" as an UnavailableError.
absl::Status ErrnoError(absl::string_view what, const std::string& path);

// Creates `path` if missing (and fsyncs its parent when it did).
absl::Status MakeDir(const std::string& path);
absl::Status FsyncDir(const std::string& path);
// Writes `contents` to `path` durably: a temporary file, fsync, rename,
// fsync of the directory.
absl::Status WriteFileDurably(const std::string& path,
                              absl::string_view contents);
// NotFoundError if `path` does not exist.
absl::StatusOr<std::string> ReadFile(const std::string& path);
bool FileExists(const std::string& path);
// A file holding one decimal number (lsn_reserved, max_session_ttl,
// token_epoch); NotFound if missing, DataLoss if not a number.
absl::StatusOr<uint64_t> ReadNumberFile(const std::string& path);

// The numbers named by "<20 digits><suffix>" files in `dir`, ascending
// (an absent directory has none). Other names are ignored.
absl::StatusOr<std::vector<uint64_t>> ListNumbered(const std::string& dir,
                                                   absl::string_view suffix);
absl::Status RemoveFile(const std::string& path);
// Removes the temporary files a crash in WriteFileDurably can leave in the
// data directory `dir`: every "*.tmp" in snapshot/, and "<name>.tmp" of the
// files named above. Returns the paths removed.
absl::StatusOr<std::vector<std::string>> RemoveStaleTempFiles(
    const std::string& dir);
// Cuts `path` to `size` bytes and fsyncs it.
absl::Status TruncateFile(const std::string& path, uint64_t size);

}  // namespace taala::wal

#endif  // TAALA_SERVER_WAL_FILES_H_
