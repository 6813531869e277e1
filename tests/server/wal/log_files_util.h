#ifndef TAALA_TESTS_SERVER_WAL_LOG_FILES_UTIL_H_
#define TAALA_TESTS_SERVER_WAL_LOG_FILES_UTIL_H_

// Builds log segments byte by byte (without the Wal) for the reader tests,
// and reads the log back.

#include <fstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/wal/files.h"
#include "server/wal/log_reader.h"
#include "server/wal/record_codec.h"
#include "tests/server/wal/wal_test_util.h"

namespace taala::test {

// The framed records [first, last] (each a kSessionCreated with lsn i).
inline std::string Frames(uint64_t first, uint64_t last) {
  std::string out;
  for (uint64_t lsn = first; lsn <= last; ++lsn) {
    Transition t = SessionCreated(lsn);
    t.lsn = lsn;
    std::string payload;
    wal::EncodeTransition(t, &payload);
    wal::AppendFrame(payload, &out);
  }
  return out;
}

inline void WriteRaw(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

inline std::string ReadRaw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Writes <dir>/wal/<first>.log holding `body` after the header (chained
// to record first - 1).
inline std::string WriteSegment(const std::string& dir, uint64_t first,
                                const std::string& body) {
  (void)wal::MakeDir(wal::WalDir(dir));
  const std::string path = wal::SegmentPath(dir, first);
  WriteRaw(path, wal::SegmentHeader(first - 1) + body);
  return path;
}

struct ReadBack {
  absl::StatusOr<wal::LogReadResult> result;
  std::vector<uint64_t> lsns;
};

inline ReadBack ReadAll(const std::string& dir, bool repair,
                        uint64_t after = 0) {
  ReadBack out{absl::UnknownError(""), {}};
  wal::LogReadOptions options;
  options.repair = repair;
  options.after_lsn = after;
  out.result = wal::ReadLog(dir, options, [&out](const Transition& t) {
    out.lsns.push_back(t.lsn);
    return absl::OkStatus();
  });
  return out;
}

}  // namespace taala::test

#endif  // TAALA_TESTS_SERVER_WAL_LOG_FILES_UTIL_H_
