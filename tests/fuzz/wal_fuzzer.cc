// Fuzz target: the WAL reader. The first byte picks how the rest is used:
//   0: a whole segment file (header and frames as they are);
//   1: a whole snapshot file;
//   2: record payloads, each [length byte][bytes], framed correctly (CRCs
//      right) after a valid segment header, so they reach the decoder;
//   3: a snapshot body for the decoder, and a record payload.
// Files go into a fresh data directory fed to recovery (and the log reader);
// every outcome must be a status, never a crash.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/core/durable_state.h"
#include "server/core/transition.h"
#include "server/wal/files.h"
#include "server/wal/log_reader.h"
#include "server/wal/record_codec.h"
#include "server/wal/recovery.h"
#include "server/wal/snapshot_file.h"
#include "server/wal/wal_options.h"

namespace taala {
namespace {

void RemoveDataDir();

// In /dev/shm where there is one: recovery fsyncs the files it writes, and
// on a disk that makes each input take milliseconds (the fallback driver's
// loop then runs for minutes); a tmpfs makes fsync free.
const std::string& DataDir() {
  static const std::string* dir = [] {
    std::error_code ec;
    const std::filesystem::path base =
        std::filesystem::is_directory("/dev/shm", ec) &&
                access("/dev/shm", W_OK | X_OK) == 0
            ? std::filesystem::path("/dev/shm")
            : std::filesystem::temp_directory_path();
    std::string pattern = (base / "taala_wal_fuzz.XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    auto* made = new std::string(pattern);
    std::atexit(RemoveDataDir);
    return made;
  }();
  return *dir;
}

void RemoveDataDir() {
  std::error_code ignored;
  std::filesystem::remove_all(DataDir(), ignored);
}

void WriteFile(const std::string& path, absl::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void Fresh(const std::string& dir) {
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  std::filesystem::create_directories(wal::WalDir(dir), ignored);
  std::filesystem::create_directories(wal::SnapshotDir(dir), ignored);
}

void Recover(const std::string& dir) {
  wal::WalOptions options;
  options.dir = dir;
  options.on_fatal = [](const std::string&) {};
  wal::Recover(options, absl::Hours(1)).status().IgnoreError();
  wal::ReadLog(dir, wal::LogReadOptions{},
               [](const Transition&) { return absl::OkStatus(); })
      .status()
      .IgnoreError();
}

}  // namespace
}  // namespace taala

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace taala;  // NOLINT
  if (size == 0) return 0;
  const absl::string_view rest(reinterpret_cast<const char*>(data + 1),
                               size - 1);
  const std::string& dir = DataDir();
  switch (data[0] % 4) {
    case 0:
      Fresh(dir);
      WriteFile(wal::SegmentPath(dir, 1), rest);
      Recover(dir);
      break;
    case 1: {
      Fresh(dir);
      const std::string path = wal::SnapshotPath(dir, 7);
      WriteFile(path, rest);
      wal::ReadSnapshot(path, 7).status().IgnoreError();
      Recover(dir);
      break;
    }
    case 2: {
      Fresh(dir);
      std::string segment = wal::SegmentHeader(0);
      size_t i = 0;
      while (i < rest.size()) {
        const size_t len =
            std::min<size_t>(static_cast<uint8_t>(rest[i]), rest.size() - i - 1);
        wal::AppendFrame(rest.substr(i + 1, len), &segment);
        i += 1 + len;
      }
      WriteFile(wal::SegmentPath(dir, 1), segment);
      Recover(dir);
      break;
    }
    case 3: {
      DurableState state;
      wal::DecodeSnapshotBody(rest, &state);
      Transition t;
      wal::DecodeTransition(rest, &t);
      break;
    }
  }
  return 0;
}
