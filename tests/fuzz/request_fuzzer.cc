// Fuzz target: request decoding plus command application. The input is a
// sequence of requests, each [type byte][length][length bytes], the length
// one byte, or two (big-endian, 15 bits) when the type byte's high bit is
// set, so that a request can exceed 255 bytes (many keys, long keys); the
// bytes are parsed as that LockService (or AdminService) request exactly as
// the service parses them (raw_request.h, then translation.h), and the
// resulting command is applied to a real in-memory LockTable (MemoryLog),
// whose invariants are checked after every command. Small session ids in a
// request name the sessions the input created, so commands meet state;
// sessions belong to one of a few owners (the request's client_name picks
// it), so ownership checks meet foreign sessions.
// Nothing may crash, and every refusal must be a status.

#include <grpcpp/support/byte_buffer.h>

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/core/lock_table.h"
#include "server/core/multi_acquire.h"
#include "server/core/transition.h"
#include "server/rpc/raw_request.h"
#include "server/rpc/translation.h"
#include "server/rpc/watch_translation.h"
#include "taala/v1/admin_service.pb.h"
#include "taala/v1/lock_service.pb.h"

namespace taala {
namespace {

enum RequestType : uint8_t {
  kCreateSession,
  kKeepAlive,
  kCloseSession,
  kAcquire,
  kAcquireAll,
  kRelease,
  kCheckFence,
  kDescribeLock,
  kListLocks,
  kGetLockStats,
  kWatch,
  kForceRelease,
  kAdvanceTime,  // The bytes' first byte: seconds to advance the clock.
  kTypes,
};

// The identities sessions belong to ("": a session from before owners).
constexpr const char* kOwners[] = {"fuzz", "alice", "anonymous@127.0.0.1",
                                   ""};

template <typename Message>
bool Parse(const std::string& bytes, Message* out) {
  grpc::Slice slice(bytes);
  grpc::ByteBuffer raw(&slice, 1);
  return ParseRequest(raw, out).ok();
}

class Run {
 public:
  Run() : table_(Options(&log_)) {}

  void Apply(uint8_t type, const std::string& bytes) {
    switch (type % kTypes) {
      case kCreateSession: {
        v1::CreateSessionRequest req;
        if (!Parse(bytes, &req)) return;
        // Ids from a counter, not LockTable::NewSessionId (random): a run
        // must be reproducible from its input.
        const uint64_t id = next_session_id_++;
        CreateSessionCmd cmd = ToCreateSessionCmd(req, id, now_);
        cmd.owner = kOwners[req.client_name().size() % 4];
        if (table_.CreateSession(cmd).ok()) {
          sessions_.push_back(id);
        }
        break;
      }
      case kKeepAlive: {
        v1::KeepAliveRequest req;
        if (!Parse(bytes, &req)) return;
        const uint64_t id = Session(req.session_id());
        // As the service does: a caller (picked by the id) renews only its
        // own sessions.
        const char* caller = kOwners[req.session_id() % 4];
        const bool anonymous =
            absl::string_view(caller).rfind("anonymous@", 0) == 0;
        if (!table_.CheckSessionOwner(id, caller, anonymous).ok()) {
          return;
        }
        if (table_.KeepAlive(KeepAliveCmd{id, now_}).ok() &&
            req.has_acked_event_sequence()) {
          table_.AckEvents(id, req.acked_event_sequence());
        }
        break;
      }
      case kCloseSession: {
        v1::CloseSessionRequest req;
        if (!Parse(bytes, &req)) return;
        table_.CloseSession(CloseSessionCmd{Session(req.session_id()), now_})
            .IgnoreError();
        break;
      }
      case kAcquire: {
        v1::AcquireRequest req;
        if (!Parse(bytes, &req)) return;
        req.set_session_id(Session(req.session_id()));
        absl::StatusOr<AcquireCmd> cmd = ToAcquireCmd(&req, now_);
        // A null waiter: what would wait is not queued.
        if (cmd.ok()) table_.Acquire(*cmd, nullptr);
        break;
      }
      case kAcquireAll: {
        v1::AcquireAllRequest req;
        if (!Parse(bytes, &req)) return;
        req.set_session_id(Session(req.session_id()));
        absl::StatusOr<MultiAcquireCmd> cmd =
            ToMultiAcquireCmd(&req, table_.options().key_limits, now_);
        if (!cmd.ok()) return;
        // Applied one key at a time as try-locks (MultiAcquire itself
        // needs a clock and a listener; its steps are these acquires).
        for (const MultiAcquireCmd::Key& key : cmd->keys) {
          AcquireCmd one;
          one.session_id = cmd->session_id;
          one.key = key.key;
          one.mode = key.mode;
          one.max_hold = key.max_hold.value_or(cmd->max_hold);
          one.lock_delay = key.lock_delay.value_or(cmd->lock_delay);
          one.semaphore_size = key.semaphore_size;
          one.now = now_;
          table_.Acquire(one, nullptr);
        }
        break;
      }
      case kRelease: {
        v1::ReleaseRequest req;
        if (!Parse(bytes, &req)) return;
        req.set_session_id(Session(req.session_id()));
        table_.Release(ToReleaseCmd(&req, now_)).IgnoreError();
        break;
      }
      case kCheckFence: {
        v1::CheckFenceRequest req;
        if (!Parse(bytes, &req)) return;
        table_.CheckFence(req.key(), req.fencing_token()).status()
            .IgnoreError();
        break;
      }
      case kDescribeLock: {
        v1::DescribeLockRequest req;
        if (!Parse(bytes, &req)) return;
        table_.Describe(req.key(), MaxWaiters(req.max_waiters())).status()
            .IgnoreError();
        break;
      }
      case kListLocks: {
        v1::ListLocksRequest req;
        if (!Parse(bytes, &req)) return;
        table_.ListLocks(req.prefix(), req.page_token(),
                         PageSize(req.page_size()),
                         ToListLocksFilter(req, now_))
            .status()
            .IgnoreError();
        break;
      }
      case kGetLockStats: {
        v1::GetLockStatsRequest req;
        if (!Parse(bytes, &req)) return;
        table_.GetLockStats(req.key(), req.prefix()).status().IgnoreError();
        break;
      }
      case kWatch: {
        v1::WatchRequest req;
        if (!Parse(bytes, &req)) return;
        ToWatchFilter(req, table_.options().key_limits).status().IgnoreError();
        break;
      }
      case kForceRelease: {
        v1::ForceReleaseRequest req;
        if (!Parse(bytes, &req)) return;
        ForceReleaseCmd cmd;
        cmd.key = req.key();
        cmd.session_id =
            req.session_id() == 0 ? 0 : Session(req.session_id());
        cmd.token = req.fencing_token();
        cmd.reason = "fuzz";
        cmd.caller = "fuzz";
        cmd.skip_lock_delay = req.skip_lock_delay();
        cmd.now = now_;
        table_.ForceRelease(cmd).status().IgnoreError();
        break;
      }
      case kAdvanceTime: {
        const int seconds = bytes.empty() ? 1 : static_cast<uint8_t>(bytes[0]);
        now_ += absl::Seconds(seconds);
        table_.RunDueTimers(now_);
        break;
      }
    }
    table_.CheckInvariantsForTest();
  }

 private:
  static LockTable::Options Options(TransitionLog* log) {
    LockTable::Options options;
    options.shards = 4;
    options.log = log;
    options.max_pending_events = 8;
    return options;
  }

  // A small id names one of the sessions created so far.
  uint64_t Session(uint64_t id) const {
    if (id < 16 && !sessions_.empty()) return sessions_[id % sessions_.size()];
    return id;
  }

  MemoryLog log_;
  LockTable table_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
  std::vector<uint64_t> sessions_;
  uint64_t next_session_id_ = 0x5e55000000000001;
};

}  // namespace
}  // namespace taala

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  taala::Run run;
  size_t i = 0;
  int commands = 0;
  while (i + 2 <= size && commands < 256) {
    const uint8_t type = data[i];
    size_t header = 2;
    size_t want = data[i + 1];
    if ((type & 0x80) != 0) {  // A two-byte length.
      if (i + 3 > size) break;
      header = 3;
      want = (static_cast<size_t>(data[i + 1] & 0x7f) << 8) | data[i + 2];
    }
    const size_t len = std::min<size_t>(want, size - i - header);
    run.Apply(type & 0x7f,
              std::string(reinterpret_cast<const char*>(data + i + header),
                          len));
    i += header + len;
    ++commands;
  }
  return 0;
}
