#include "server/wal/snapshot_file.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "server/wal/coding.h"
#include "server/wal/crc32c.h"
#include "server/wal/files.h"
#include "server/wal/record_codec.h"

namespace taala::wal {
namespace {

constexpr char kMagic[] = "TAALASNP";
constexpr size_t kHeaderSize = 40;

}  // namespace

absl::Status WriteSnapshot(const std::string& dir, const DurableState& state,
                           uint64_t lsn, bool clean, uint64_t watch_floor) {
  if (absl::Status s = MakeDir(SnapshotDir(dir)); !s.ok()) return s;
  DurableState copy_lsn_fixed;  // Only when the body's lsn must change.
  const DurableState* body_state = &state;
  if (state.lsn != lsn) {
    copy_lsn_fixed = state;
    copy_lsn_fixed.lsn = lsn;
    body_state = &copy_lsn_fixed;
  }
  const std::string body = EncodeSnapshotBody(*body_state);
  std::string file(kMagic, 8);
  PutFixed32(&file, kSnapshotVersion);
  PutFixed32(&file, clean ? 1 : 0);
  PutFixed64(&file, lsn);
  PutFixed64(&file, body.size());
  PutFixed32(&file, Crc32c(body));
  const uint64_t gap =
      watch_floor == 0 || watch_floor > lsn ? 0 : lsn - watch_floor;
  PutFixed32(&file, gap > UINT32_MAX ? 0 : static_cast<uint32_t>(gap));
  file += body;
  return WriteFileDurably(SnapshotPath(dir, lsn), file);
}

absl::StatusOr<Snapshot> ReadSnapshot(const std::string& path,
                                      uint64_t lsn_from_name) {
  absl::StatusOr<std::string> file = ReadFile(path);
  if (!file.ok()) return file.status();
  auto corrupt = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(
        "snapshot ", path, " is corrupt (", why,
        "); refusing to start: the state it holds would be lost"));
  };
  if (file->size() < kHeaderSize) return corrupt("shorter than its header");
  if (file->compare(0, 8, kMagic) != 0) return corrupt("bad magic");
  const char* h = file->data();
  const uint32_t version = DecodeFixed32(h + 8);
  if (version > kSnapshotVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "snapshot ", path, " has format version ", version,
        "; this taalad reads version ", kSnapshotVersion, " and older"));
  }
  if (version == 0) return corrupt("version 0");
  Snapshot snap;
  snap.clean = (DecodeFixed32(h + 12) & 1) != 0;
  snap.lsn = DecodeFixed64(h + 16);
  const uint64_t body_size = DecodeFixed64(h + 24);
  const uint32_t crc = DecodeFixed32(h + 32);
  const uint32_t watch_gap = DecodeFixed32(h + 36);
  if (body_size != file->size() - kHeaderSize) return corrupt("bad length");
  const absl::string_view body =
      absl::string_view(*file).substr(kHeaderSize);
  if (Crc32c(body) != crc) return corrupt("CRC mismatch");
  if (!DecodeSnapshotBody(body, &snap.state)) return corrupt("bad body");
  if (snap.lsn != lsn_from_name || snap.state.lsn != snap.lsn) {
    return corrupt(absl::StrCat("lsn ", snap.lsn, " does not match its name"));
  }
  // A hint only: one that cannot be right is read as unknown.
  snap.watch_floor = watch_gap > snap.lsn ? snap.lsn : snap.lsn - watch_gap;
  return snap;
}

absl::Status PruneSnapshots(const std::string& dir, size_t keep) {
  absl::StatusOr<std::vector<uint64_t>> lsns =
      ListNumbered(SnapshotDir(dir), ".snap");
  if (!lsns.ok()) return lsns.status();
  if (lsns->size() <= keep) return absl::OkStatus();
  for (size_t i = 0; i + keep < lsns->size(); ++i) {
    if (absl::Status s = RemoveFile(SnapshotPath(dir, (*lsns)[i])); !s.ok()) {
      return s;
    }
  }
  return FsyncDir(SnapshotDir(dir));
}

}  // namespace taala::wal
