// Writes the fuzz targets' seed corpora (checked in under
// tests/fuzz/corpus/<target>/): valid inputs that reach deep into each
// target. Regenerate with
//   build/tests/fuzz/make_fuzz_seeds tests/fuzz/corpus
// Deterministic: the same files every time (Fuzz.SeedsAreUpToDate).

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "server/core/durable_state.h"
#include "server/core/lock_table.h"
#include "server/core/transition.h"
#include "server/wal/files.h"
#include "server/wal/record_codec.h"
#include "server/wal/snapshot_file.h"
#include "taala/v1/admin_service.pb.h"
#include "taala/v1/lock_service.pb.h"

namespace taala {
namespace {

namespace fs = std::filesystem;

// request_fuzzer's request types (request_fuzzer.cc).
enum : uint8_t {
  kCreateSession, kKeepAlive, kCloseSession, kAcquire, kAcquireAll,
  kRelease, kCheckFence, kDescribeLock, kListLocks, kGetLockStats, kWatch,
  kForceRelease, kAdvanceTime,
};

void Add(std::string* input, uint8_t type,
         const google::protobuf::Message& m) {
  const std::string bytes = m.SerializeAsString();
  if (bytes.size() > 0x7fff) std::abort();
  if (bytes.size() > 255) {  // The two-byte length (request_fuzzer.cc).
    input->push_back(static_cast<char>(type | 0x80));
    input->push_back(static_cast<char>(bytes.size() >> 8));
  } else {
    input->push_back(static_cast<char>(type));
  }
  input->push_back(static_cast<char>(bytes.size() & 0xff));
  *input += bytes;
}

void AddRaw(std::string* input, uint8_t type, const std::string& bytes) {
  input->push_back(static_cast<char>(type));
  input->push_back(static_cast<char>(bytes.size()));
  *input += bytes;
}

v1::CreateSessionRequest Create(int64_t ttl_ms) {
  v1::CreateSessionRequest r;
  r.set_ttl_ms(ttl_ms);
  r.set_client_name("seed");
  return r;
}
v1::AcquireRequest Acquire(uint64_t s, const std::string& key,
                           int64_t max_hold_ms = 0, uint32_t sem = 0) {
  v1::AcquireRequest r;
  r.set_session_id(s);
  r.set_key(key);
  if (max_hold_ms > 0) r.set_max_hold_ms(max_hold_ms);
  if (sem > 0) r.set_semaphore_size(sem);
  return r;
}
v1::ReleaseRequest Release(uint64_t s, const std::string& key, uint64_t t) {
  v1::ReleaseRequest r;
  r.set_session_id(s);
  r.set_key(key);
  r.set_fencing_token(t);
  return r;
}

std::vector<std::string> RequestSeeds() {
  std::vector<std::string> seeds;
  std::string s;
  // 1: create, acquire, release.
  Add(&s, kCreateSession, Create(10000));
  Add(&s, kAcquire, Acquire(0, "a/b"));
  Add(&s, kRelease, Release(0, "a/b", 0));
  seeds.push_back(s);
  // 2: two sessions contend, one closes.
  s.clear();
  Add(&s, kCreateSession, Create(10000));
  Add(&s, kCreateSession, Create(10000));
  Add(&s, kAcquire, Acquire(0, "k"));
  Add(&s, kAcquire, Acquire(1, "k"));
  Add(&s, kCloseSession, [] { v1::CloseSessionRequest r; return r; }());
  Add(&s, kAcquire, Acquire(1, "k"));
  seeds.push_back(s);
  // 3: a max hold runs out; keepalives; time passes.
  s.clear();
  Add(&s, kCreateSession, Create(60000));
  Add(&s, kAcquire, Acquire(0, "held", 2000));
  AddRaw(&s, kAdvanceTime, std::string(1, '\x03'));
  { v1::KeepAliveRequest r; r.set_acked_event_sequence(1); Add(&s, kKeepAlive, r); }
  seeds.push_back(s);
  // 4: a lease runs out.
  s.clear();
  Add(&s, kCreateSession, Create(1000));
  Add(&s, kAcquire, Acquire(0, "x/y/z"));
  AddRaw(&s, kAdvanceTime, std::string(1, '\x05'));
  Add(&s, kAcquire, Acquire(0, "x/y/z"));
  seeds.push_back(s);
  // 5: a semaphore.
  s.clear();
  Add(&s, kCreateSession, Create(10000));
  Add(&s, kCreateSession, Create(10000));
  Add(&s, kAcquire, Acquire(0, "sem", 0, 2));
  Add(&s, kAcquire, Acquire(1, "sem", 0, 2));
  Add(&s, kAcquire, Acquire(1, "sem", 0, 3));
  seeds.push_back(s);
  // 6: AcquireAll, shared and exclusive.
  s.clear();
  Add(&s, kCreateSession, Create(10000));
  {
    v1::AcquireAllRequest r;
    auto* k = r.add_keys();
    k->set_key("m/1");
    k->set_mode(v1::LOCK_MODE_SHARED);
    r.add_keys()->set_key("m/2");
    r.set_max_hold_ms(5000);
    Add(&s, kAcquireAll, r);
  }
  AddRaw(&s, kAdvanceTime, std::string(1, '\x06'));
  seeds.push_back(s);
  // 7: introspection.
  s.clear();
  Add(&s, kCreateSession, Create(10000));
  Add(&s, kAcquire, Acquire(0, "svc/a"));
  { v1::DescribeLockRequest r; r.set_key("svc/a"); Add(&s, kDescribeLock, r); }
  { v1::ListLocksRequest r; r.set_prefix("svc"); Add(&s, kListLocks, r); }
  { v1::GetLockStatsRequest r; r.set_prefix("svc/"); Add(&s, kGetLockStats, r); }
  { v1::CheckFenceRequest r; r.set_key("svc/a"); r.set_fencing_token(1); Add(&s, kCheckFence, r); }
  seeds.push_back(s);
  // 8: force release and a lock-delay.
  s.clear();
  Add(&s, kCreateSession, Create(10000));
  { auto a = Acquire(0, "f"); a.set_lock_delay_ms(3000); Add(&s, kAcquire, a); }
  { v1::ForceReleaseRequest r; r.set_key("f"); r.set_reason("seed"); Add(&s, kForceRelease, r); }
  Add(&s, kAcquire, Acquire(0, "f"));
  AddRaw(&s, kAdvanceTime, std::string(1, '\x04'));
  Add(&s, kAcquire, Acquire(0, "f"));
  seeds.push_back(s);
  // 9: watch filters.
  s.clear();
  { v1::WatchRequest r; r.set_key("w/1"); Add(&s, kWatch, r); }
  { v1::WatchRequest r; r.set_prefix("w/"); Add(&s, kWatch, r); }
  seeds.push_back(s);
  // 10: bad keys and invalid UTF-8 (refused, never a crash).
  s.clear();
  Add(&s, kCreateSession, Create(10000));
  Add(&s, kAcquire, Acquire(0, "a\xC2\x85" "b"));
  Add(&s, kAcquire, Acquire(0, "a//b"));
  AddRaw(&s, kAcquire, std::string("\x12\x02\xff\xfe", 4));
  seeds.push_back(s);
  // 11: upgrade shared to exclusive.
  s.clear();
  Add(&s, kCreateSession, Create(10000));
  { auto a = Acquire(0, "u"); a.set_mode(v1::LOCK_MODE_SHARED); Add(&s, kAcquire, a); }
  Add(&s, kAcquire, Acquire(0, "u"));
  Add(&s, kRelease, Release(0, "u", 0));
  seeds.push_back(s);
  // 12: many keys in one session, then close.
  s.clear();
  Add(&s, kCreateSession, Create(10000));
  for (int i = 0; i < 8; ++i) Add(&s, kAcquire, Acquire(0, absl::StrCat("n/", i)));
  Add(&s, kCloseSession, v1::CloseSessionRequest());
  seeds.push_back(s);
  return seeds;
}

// The records a real table writes for some traffic.
std::vector<Transition> Records() {
  std::vector<Transition> records;
  MemoryLog log;
  log.set_tap([&](const Transition& t) { records.push_back(t); });
  LockTable::Options options;
  options.log = &log;
  options.shards = 2;
  LockTable table(options);
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  std::vector<uint64_t> sessions;
  for (int i = 0; i < 3; ++i) {
    const uint64_t id = 0x5e55000000000001 + i;  // Fixed: same seeds.
    CreateSessionCmd cmd;
    cmd.session_id = id;
    cmd.owner = "seed";
    cmd.client_name = "seed";
    cmd.ttl = absl::Seconds(5);
    cmd.now = t0;
    if (table.CreateSession(cmd).ok()) sessions.push_back(id);
  }
  for (int i = 0; i < 6; ++i) {
    AcquireCmd a;
    a.session_id = sessions[i % sessions.size()];
    a.key = absl::StrCat("k/", i % 4);
    a.max_hold = i == 2 ? absl::Seconds(1) : absl::ZeroDuration();
    a.lock_delay = i == 3 ? absl::Seconds(2) : absl::ZeroDuration();
    a.now = t0 + absl::Milliseconds(i);
    table.Acquire(a, nullptr);
  }
  ReleaseCmd r;
  r.session_id = sessions[0];
  r.key = "k/0";
  r.now = t0 + absl::Milliseconds(10);
  table.Release(r).IgnoreError();
  table.RunDueTimers(t0 + absl::Seconds(3));
  table.CloseSession(CloseSessionCmd{sessions[1], t0 + absl::Seconds(3)})
      .IgnoreError();
  table.RunDueTimers(t0 + absl::Seconds(20));
  return records;
}

std::vector<std::string> WalSeeds() {
  const std::vector<Transition> records = Records();
  std::vector<std::string> seeds;
  // Whole segments (mode 0): all records, then growing prefixes.
  for (size_t n : {records.size(), size_t{1}, size_t{4}, records.size() / 2}) {
    std::string seg("\x00", 1);
    seg += wal::SegmentHeader(0);
    for (size_t i = 0; i < n && i < records.size(); ++i) {
      std::string payload;
      wal::EncodeTransition(records[i], &payload);
      wal::AppendFrame(payload, &seg);
    }
    seeds.push_back(seg);
  }
  // Payloads framed by the target (mode 2).
  for (size_t start : {size_t{0}, size_t{3}, size_t{6}}) {
    std::string in("\x02", 1);
    for (size_t i = start; i < records.size() && i < start + 6; ++i) {
      std::string payload;
      wal::EncodeTransition(records[i], &payload);
      if (payload.size() > 255) continue;
      in.push_back(static_cast<char>(payload.size()));
      in += payload;
    }
    seeds.push_back(in);
  }
  // Snapshot bodies and single records for the decoders (mode 3).
  DurableState state;
  for (size_t i = 0; i < records.size(); ++i) {
    state.Apply(records[i]);
    if (i == 3 || i == records.size() / 2 || i + 1 == records.size()) {
      seeds.push_back(std::string("\x03", 1) + wal::EncodeSnapshotBody(state));
    }
  }
  // Whole snapshot files (mode 1), as the snapshotter writes them, named
  // for the LSN the target gives them (7).
  DurableState early;  // The records up to LSN 7.
  for (const Transition& t : records) {
    if (t.lsn <= 7) early.Apply(t);
  }
  for (bool clean : {true, false}) {
    const fs::path dir =
        fs::temp_directory_path() / absl::StrCat("taala_seeds_", clean);
    fs::remove_all(dir);
    fs::create_directories(dir);
    if (!wal::WriteSnapshot(dir.string(), early, 7, clean).ok()) {
      std::abort();
    }
    for (const auto& entry :
         fs::recursive_directory_iterator(wal::SnapshotDir(dir.string()))) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      seeds.push_back(std::string("\x01", 1) +
                      std::string(std::istreambuf_iterator<char>(in),
                                  std::istreambuf_iterator<char>()));
    }
    fs::remove_all(dir);
  }
  for (size_t i : {size_t{0}, size_t{5}}) {
    if (i >= records.size()) continue;
    std::string payload;
    wal::EncodeTransition(records[i], &payload);
    seeds.push_back(std::string("\x03", 1) + payload);
  }
  return seeds;
}

void WriteAll(const fs::path& dir, const std::vector<std::string>& seeds) {
  fs::create_directories(dir);
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream out(dir / absl::StrCat("seed-", i < 10 ? "0" : "", i),
                      std::ios::binary | std::ios::trunc);
    out << seeds[i];
  }
}

}  // namespace
}  // namespace taala

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus_root>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root(argv[1]);
  taala::WriteAll(root / "request_fuzzer", taala::RequestSeeds());
  taala::WriteAll(root / "wal_fuzzer", taala::WalSeeds());
  return 0;
}
