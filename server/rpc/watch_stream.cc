#include "server/rpc/watch_stream.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/rpc/grpc_status.h"
#include "server/rpc/raw_request.h"
#include "server/rpc/watch_translation.h"

namespace taala {

// Raw (NewWatchReactor): each message is serialized as it is written.
using WatchReactorBase = grpc::ServerWriteReactor<grpc::ByteBuffer>;

// One watcher: its filter, its cursor into the hub's ring, its bounded
// queue and its one write in flight (the shape of event_stream.cc). Held by
// the reactor and the pump, so the pump may hand it records after the call
// has ended (they are dropped).
class WatchStream {
 public:
  WatchStream(WatchReactorBase* reactor, WatchPump* pump, WatchFilter filter,
              WatchCaller caller)
      : pump_(pump),
        filter_(std::move(filter)),
        reactor_(reactor),
        caller_(std::move(caller)) {}

  // Before Join: the snapshot goes first, once its LSN is durable
  // (SnapshotDurable); events follow from `position`.
  void InitSnapshot(std::vector<v1::WatchResponse> messages, uint64_t lsn,
                    uint64_t position) {
    absl::MutexLock lock(&mu_);
    snapshot_.assign(messages.begin(), messages.end());
    snapshot_lsn_ = lsn;
    cursor_ = live_from_ = position;
    held_ = true;
  }
  // Before Join: replay from `position`; live-only records only from
  // `live_from` (never replayed).
  void InitResume(uint64_t position, uint64_t live_from, uint64_t after_lsn) {
    absl::MutexLock lock(&mu_);
    cursor_ = position;
    live_from_ = live_from;
    last_lsn_ = after_lsn;
  }
  void SnapshotDurable() {
    absl::MutexLock lock(&mu_);
    held_ = false;
    MaybeWriteLocked();
  }

  uint64_t cursor() {
    absl::MutexLock lock(&mu_);
    return cursor_;
  }

  // The pump: `batch` holds the records from ring position `start`; the
  // first `n` are durable. `first`: the oldest position the ring retains.
  void Take(const std::vector<WatchHub::RecordPtr>& batch, uint64_t start,
            size_t n, uint64_t first) {
    absl::MutexLock lock(&mu_);
    if (finish_pending_ || finish_called_) {
      // Ending (its last write may never complete): it must not hold the
      // pump back to old positions meanwhile.
      cursor_ = std::max(cursor_, start + n);
      return;
    }
    if (cursor_ < first) {  // The ring overwrote what it had not taken.
      EndTooSlowLocked("the watch history overwrote events it had not "
                       "taken (taalad --watch_history)");
      return;
    }
    for (uint64_t p = std::max(cursor_, start); p < start + n; ++p) {
      const WatchHub::RecordPtr& r = batch[p - start];
      if (r->live_only() && p < live_from_) continue;  // Never replayed.
      if (!filter_.Matches(r->key)) continue;
      if (queue_.size() >= pump_->buffer()) {
        EndTooSlowLocked(absl::StrCat("its queue of ", pump_->buffer(),
                                      " events is full (taalad "
                                      "--watch_buffer)"));
        return;
      }
      queue_.push_back(r);
    }
    cursor_ = std::max(cursor_, start + n);
    MaybeWriteLocked();
  }

  // Every way out of a write ends here: a Finish left to this write's end
  // (OnCancel, Shutdown, too slow) is done now whether or not it went
  // through; a write that failed (a cancelled or broken call, the server's
  // drain deadline) ends the call. gRPC calls it for every write started,
  // so no call is left unfinished (grpc::Server::Shutdown waits for each).
  void OnWriteDone(bool ok) {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (ok) last_lsn_ = std::max(last_lsn_, in_flight_lsn_);
    if (finish_pending_) {
      FinishLocked();
    } else if (!ok) {
      FinishSoonLocked(grpc::Status(grpc::StatusCode::CANCELLED,
                                    "Watch stream broken"));
    } else {
      MaybeWriteLocked();
    }
  }

  // Ends the call once the write in flight (if any) is done (OnWriteDone);
  // what is queued is dropped. With no write in flight it finishes now,
  // whatever else holds the stream: the snapshot not yet durable (held_,
  // its WhenDurable then finds the stream ending), a cursor the pump has
  // not reached.
  void FinishSoon(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    FinishSoonLocked(status);
  }

  void Detach() {
    absl::MutexLock lock(&mu_);
    reactor_ = nullptr;
  }

 private:
  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_pending_ || finish_called_ || reactor_ == nullptr) return;
    // Refused after a reload (the call lives while reactor_ is set).
    absl::Status s = caller_.Check();
    if (!s.ok()) return FinishSoonLocked(ToGrpcStatus(s));
    if (writing_ || held_) return;
    in_flight_.Clear();  // Serializing needs an empty buffer.
    if (!snapshot_.empty()) {
      in_flight_lsn_ = snapshot_.front().snapshot().complete() ? snapshot_lsn_
                                                                : 0;
      SerializeResponse(snapshot_.front(), &in_flight_);
      snapshot_.pop_front();
    } else if (!queue_.empty()) {
      v1::WatchResponse msg;
      ToProto(*queue_.front(), msg.mutable_event());
      KeepCycleWithin(filter_, msg.mutable_event());
      SerializeResponse(msg, &in_flight_);
      in_flight_lsn_ = queue_.front()->order_lsn();
      queue_.pop_front();
    } else {
      return;
    }
    writing_ = true;
    reactor_->StartWrite(&in_flight_);
  }

  void EndTooSlowLocked(const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    pump_->CountTooSlow();
    too_slow_ = why;
    FinishSoonLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, ""));
  }

  void FinishSoonLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_pending_ || finish_called_) return;
    finish_pending_ = true;
    pending_ = status;
    snapshot_.clear();
    queue_.clear();
    if (!writing_) FinishLocked();
  }

  void FinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_called_ || reactor_ == nullptr) return;
    finish_called_ = true;
    if (!too_slow_.empty()) {  // Names the LSN the client got last.
      // Zero: its snapshot was not all written; there is nothing to resume
      // from but a new snapshot.
      pending_ = grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("watcher too slow: ", too_slow_,
                       last_lsn_ == 0
                           ? "; its snapshot was not complete: re-list (watch "
                             "again with after_lsn 0 for a new snapshot)"
                           : absl::StrCat("; resume with after_lsn=",
                                          last_lsn_)));
    }
    reactor_->Finish(pending_);
  }

  WatchPump* const pump_;
  const WatchFilter filter_;
  absl::Mutex mu_;
  WatchReactorBase* reactor_ ABSL_GUARDED_BY(mu_);  // Null after OnDone.
  WatchCaller caller_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::WatchResponse> snapshot_ ABSL_GUARDED_BY(mu_);
  uint64_t snapshot_lsn_ ABSL_GUARDED_BY(mu_) = 0;
  bool held_ ABSL_GUARDED_BY(mu_) = false;  // The snapshot is not durable.
  std::deque<WatchHub::RecordPtr> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t cursor_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t live_from_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::ByteBuffer in_flight_ ABSL_GUARDED_BY(mu_);  // Serialized.
  uint64_t in_flight_lsn_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_lsn_ ABSL_GUARDED_BY(mu_) = 0;  // Written last.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status pending_ ABSL_GUARDED_BY(mu_);
  std::string too_slow_ ABSL_GUARDED_BY(mu_);
};

namespace {

constexpr size_t kSnapshotMessageBytes = 1 << 20;
constexpr size_t kPumpBatch = 1024;

class WatchReactor final : public WatchReactorBase {
 public:
  WatchReactor(WatchPump* pump, const grpc::ByteBuffer& raw, WatchCaller who)
      : pump_(pump) {
    if (pump->shutting_down()) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "taalad is shutting down"));
      return;
    }
    v1::WatchRequest request;
    // INVALID_ARGUMENT naming the field or the request, as unary.h's.
    if (absl::Status parsed = ParseRequest(raw, &request); !parsed.ok()) {
      Finish(ToGrpcStatus(parsed));
      return;
    }
    absl::StatusOr<WatchFilter> filter = ToWatchFilter(
        request, pump->table()->options().key_limits);
    if (!filter.ok()) {
      Finish(ToGrpcStatus(filter.status()));
      return;
    }
    WatchHub& hub = *pump->hub();
    // Counted first: the shards record waits for the snapshot's fold.
    hub.AddWatcher();
    stream_ = std::make_shared<WatchStream>(this, pump, *filter, who);
    if (request.after_lsn() == 0) {
      absl::StatusOr<WatchSnapshotState> snap =
          pump->table()->SnapshotForWatch(*filter, hub);
      if (!snap.ok()) {
        stream_->FinishSoon(ToGrpcStatus(snap.status()));
        return;
      }
      stream_->InitSnapshot(SnapshotMessages(*snap, kSnapshotMessageBytes),
                            snap->lsn, snap->position);
      pump->Join(stream_);
      hub.WhenDurable(snap->lsn, [s = stream_] { s->SnapshotDurable(); });
      return;
    }
    absl::StatusOr<uint64_t> position =
        hub.ResumePosition(request.after_lsn());
    if (!position.ok()) {
      stream_->FinishSoon(ToGrpcStatus(position.status()));
      return;
    }
    stream_->InitResume(*position, hub.Now().position, request.after_lsn());
    pump->Join(stream_);
  }

  void OnWriteDone(bool ok) override { stream_->OnWriteDone(ok); }

  void OnCancel() override {
    if (stream_ != nullptr) {
      stream_->FinishSoon(grpc::Status(grpc::StatusCode::CANCELLED,
                                       "Watch cancelled"));
    }
  }

  void OnDone() override {
    if (stream_ != nullptr) {
      stream_->Detach();
      pump_->Leave(stream_.get());
      pump_->hub()->RemoveWatcher();
    }
    delete this;
  }

 private:
  WatchPump* const pump_;
  std::shared_ptr<WatchStream> stream_;  // Null: ended before it began.
};

}  // namespace

WatchPump::WatchPump(LockTable* table, WatchHub* hub, size_t buffer)
    : table_(table), hub_(hub), buffer_(std::max<size_t>(buffer, 1)) {}

WatchPump::~WatchPump() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  hub_->Kick();
  if (thread_.joinable()) thread_.join();
}

void WatchPump::Start() { thread_ = std::thread([this] { Run(); }); }

void WatchPump::Shutdown() {
  shutting_down_.store(true);
  std::vector<std::shared_ptr<WatchStream>> streams;
  {
    absl::MutexLock lock(&mu_);
    streams = streams_;
  }
  for (const auto& s : streams) {
    s->FinishSoon(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                               "taalad is shutting down"));
  }
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* NewWatchReactor(
    WatchPump* pump, const grpc::ByteBuffer& raw, WatchCaller caller) {
  if (pump == nullptr) {
    class Unserved final : public WatchReactorBase {
      void OnDone() override { delete this; }
    };
    auto* r = new Unserved();
    r->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                           "this server does not serve Watch"));
    return r;
  }
  return new WatchReactor(pump, raw, std::move(caller));
}

void WatchPump::Join(const std::shared_ptr<WatchStream>& w) {
  {
    absl::MutexLock lock(&mu_);
    streams_.push_back(w);
  }
  // A Shutdown that missed it: end it as Shutdown would have.
  if (shutting_down()) {
    w->FinishSoon(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                               "taalad is shutting down"));
  }
  hub_->Kick();  // Its cursor may be behind what the pump has seen.
}

void WatchPump::Leave(const WatchStream* w) {
  std::shared_ptr<WatchStream> gone;  // Freed outside the mutex.
  absl::MutexLock lock(&mu_);
  for (auto it = streams_.begin(); it != streams_.end(); ++it) {
    if (it->get() == w) {
      gone = std::move(*it);
      streams_.erase(it);
      break;
    }
  }
}

void WatchPump::Run() {
  // The ring's end when last looked at.
  uint64_t seen = 0;
  uint64_t durable_asked = 0;  // The LSN a WhenDurable kick waits for.
  while (true) {
    hub_->WaitFor(seen, absl::Milliseconds(200));
    std::vector<std::shared_ptr<WatchStream>> streams;
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      streams = streams_;
    }
    if (streams.empty()) {
      // No watcher: wait for a Join (or the stop) on the pump's own mutex,
      // not the hub's, so that appends do not check a waiter at all.
      absl::MutexLock lock(&mu_);
      auto joined = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !streams_.empty();
      };
      mu_.AwaitWithTimeout(absl::Condition(&joined), absl::Seconds(1));
      seen = 0;  // Look at the hub at once.
      continue;
    }
    seen = hub_->Now().position;
    uint64_t from = UINT64_MAX;
    for (const auto& s : streams) from = std::min(from, s->cursor());
    while (true) {
      uint64_t first = 0;
      const std::vector<WatchHub::RecordPtr> batch =
          hub_->Read(from, kPumpBatch, &first);
      const uint64_t start = std::max(from, first);
      size_t n = 0;
      for (; n < batch.size(); ++n) {
        const uint64_t lsn = batch[n]->order_lsn();
        if (lsn == 0 || hub_->IsDurable(lsn)) continue;
        if (lsn > durable_asked) {  // Wake up once it is.
          durable_asked = lsn;
          hub_->WhenDurable(lsn, [hub = hub_] { hub->Kick(); });
        }
        break;
      }
      for (const auto& s : streams) s->Take(batch, start, n, first);
      if (n < batch.size() || batch.size() < kPumpBatch) break;
      from = start + n;
    }
  }
}

}  // namespace taala
