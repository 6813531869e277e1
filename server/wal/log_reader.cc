#include "server/wal/log_reader.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/wal/coding.h"
#include "server/wal/crc32c.h"
#include "server/wal/files.h"
#include "server/wal/record_codec.h"

namespace taala::wal {
namespace {

// The frame at `pos` if it is valid and its record's lsn > `last_lsn`;
// `*size` is the frame's size.
bool ParseFrame(absl::string_view data, size_t pos, uint64_t last_lsn,
                Transition* t, size_t* size) {
  if (pos > data.size() || data.size() - pos < kFrameHeaderSize) return false;
  const uint32_t len = DecodeFixed32(data.data() + pos);
  if (len == 0 || len > kMaxPayload) return false;
  if (data.size() - pos - kFrameHeaderSize < len) return false;
  const absl::string_view payload = data.substr(pos + kFrameHeaderSize, len);
  if (Crc32c(payload) != DecodeFixed32(data.data() + pos + 4)) return false;
  if (!DecodeTransition(payload, t) || t->lsn <= last_lsn) return false;
  *size = kFrameHeaderSize + len;
  return true;
}

// The first offset at or after `from` where a valid frame with an lsn above
// `last_lsn` starts, or npos.
size_t FindValidFrame(absl::string_view data, size_t from, uint64_t last_lsn,
                      uint64_t* lsn) {
  Transition t;
  size_t size;
  for (size_t pos = from; pos + kFrameHeaderSize <= data.size(); ++pos) {
    if (ParseFrame(data, pos, last_lsn, &t, &size)) {
      *lsn = t.lsn;
      return pos;
    }
  }
  return absl::string_view::npos;
}

class Reader {
 public:
  Reader(const std::string& dir, const LogReadOptions& options,
         const std::function<absl::Status(const Transition&)>& fn)
      : dir_(dir), options_(options), fn_(fn) {}

  absl::StatusOr<LogReadResult> Run() {
    absl::StatusOr<std::vector<uint64_t>> firsts =
        ListNumbered(WalDir(dir_), ".log");
    if (!firsts.ok()) return firsts.status();
    firsts_ = std::move(*firsts);
    std::string previous_path, previous_data;
    for (size_t i = 0; i < firsts_.size(); ++i) {
      const std::string path = SegmentPath(dir_, firsts_[i]);
      absl::StatusOr<std::string> data = ReadFile(path);
      if (!data.ok()) return data.status();
      if (i > 0 && data->size() >= kSegmentHeaderSize &&
          absl::string_view(*data).substr(0, 8) ==
              absl::string_view(kSegmentMagic, 8) &&
          DecodeFixed32(data->data() + 12) !=
              SegmentChainValue(result_.last_lsn)) {
        // The segment before lost records at its end, after they were
        // fsynced (this one was started only then).
        return CorruptBeforeLater(previous_path, previous_data.size(), path);
      }
      ++result_.segments;
      size_t bad_at = 0;
      absl::StatusOr<bool> good = ReadSegment(path, *data, &bad_at);
      if (!good.ok()) return good.status();
      if (!*good) {
        if (i + 1 < firsts_.size()) {
          return CorruptBeforeLater(path, bad_at,
                                    SegmentPath(dir_, firsts_[i + 1]));
        }
        return BadFrame(path, *data, bad_at);
      }
      previous_path = path;
      previous_data = std::move(*data);
    }
    return std::move(result_);
  }

 private:
  // True if the whole segment is good; else false with `*bad_at` the
  // offset of its first bad frame (0: a bad header).
  absl::StatusOr<bool> ReadSegment(const std::string& path,
                                   absl::string_view data, size_t* bad_at) {
    if (data.size() < kSegmentHeaderSize ||
        data.substr(0, 8) != absl::string_view(kSegmentMagic, 8)) {
      *bad_at = 0;
      return false;
    }
    const uint32_t version = DecodeFixed32(data.data() + 8);
    if (version > kSegmentVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "log segment ", path, " has format version ", version,
          "; this taalad reads version ", kSegmentVersion, " and older"));
    }
    if (version == 0) {
      *bad_at = 0;
      return false;
    }
    size_t pos = kSegmentHeaderSize;
    Transition t;
    size_t size;
    while (pos < data.size()) {
      if (!ParseFrame(data, pos, result_.last_lsn, &t, &size)) {
        *bad_at = pos;
        return false;
      }
      result_.last_lsn = t.lsn;
      if (t.lsn > options_.after_lsn) {
        if (absl::Status s = fn_(t); !s.ok()) return s;
        ++result_.records;
      }
      pos += size;
    }
    return true;
  }

  // `path` is bad from `bad_at` (its end: records lost there), and `later`
  // exists. The writer starts a segment only after everything before it
  // was written and fsynced, so this is no torn write: acknowledged records
  // are damaged.
  absl::Status CorruptBeforeLater(const std::string& path, size_t bad_at,
                                  const std::string& later) {
    return absl::DataLossError(absl::StrCat(
        "refusing to start: ", path, " is corrupt in the middle at offset ",
        bad_at, " (after LSN ", result_.last_lsn,
        "): it was written and fsynced before the later segment ", later,
        " was started, so this is not a torn tail; acknowledged records "
        "would be lost"));
  }

  // The last segment is bad from `bad_at`: a corrupt middle or a torn tail.
  absl::StatusOr<LogReadResult> BadFrame(const std::string& path,
                                         absl::string_view data,
                                         size_t bad_at) {
    uint64_t lsn = 0;
    const size_t found =
        FindValidFrame(data, bad_at + 1, result_.last_lsn, &lsn);
    if (found != absl::string_view::npos) {
      return absl::DataLossError(absl::StrCat(
          "refusing to start: ", path, " is corrupt in the middle at offset ",
          bad_at, " (after LSN ", result_.last_lsn,
          "); records after it would be lost (a valid record with LSN ", lsn,
          " follows at offset ", found, ")"));
    }
    result_.torn_tail = true;
    const uint64_t cut = data.size() - bad_at;
    if (!options_.repair) {
      result_.warnings.push_back(absl::StrCat("torn tail of ", path,
                                              " at offset ", bad_at, " (",
                                              cut, " bytes), left in place"));
      return std::move(result_);
    }
    result_.warnings.push_back(absl::StrCat("cut off a torn tail of ", path,
                                            " at offset ", bad_at, " (", cut,
                                            " bytes)"));
    absl::Status s;
    if (bad_at < kSegmentHeaderSize) {
      s = RemoveFile(path);
    } else if (bad_at < data.size()) {
      s = TruncateFile(path, bad_at);
    }
    if (!s.ok()) return s;
    if (s = FsyncDir(WalDir(dir_)); !s.ok()) return s;
    return std::move(result_);
  }

  const std::string dir_;
  const LogReadOptions options_;
  const std::function<absl::Status(const Transition&)>& fn_;
  std::vector<uint64_t> firsts_;
  LogReadResult result_;
};

}  // namespace

absl::StatusOr<LogReadResult> ReadLog(
    const std::string& dir, const LogReadOptions& options,
    const std::function<absl::Status(const Transition&)>& fn) {
  return Reader(dir, options, fn).Run();
}

}  // namespace taala::wal
