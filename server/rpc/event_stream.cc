#include "server/rpc/event_stream.h"

#include <deque>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/rpc/grpc_status.h"
#include "server/rpc/translation.h"

namespace taala {
namespace {

// The shared half of a KeepAlive stream: the session's event sink and the
// stream's write queue, one write in flight at a time (the shape of gRPC's
// own health-watch reactor). Held by the reactor and by the lock table, so
// events delivered after the stream ended are dropped safely.
class KeepAliveStream final : public SessionEventSink {
 public:
  explicit KeepAliveStream(KeepAliveReactorBase* reactor)
      : reactor_(reactor) {}

  bool Deliver(const SessionEvent& event) override {
    absl::MutexLock lock(&mu_);
    if (reactor_ == nullptr || finish_called_ || finish_pending_) return false;
    v1::KeepAliveResponse msg;
    msg.set_session_id(event.session_id);
    ToProto(event, msg.mutable_event());
    queue_.push_back(std::move(msg));
    MaybeWriteLocked();
    if (event.type == SessionEvent::Type::kSessionExpired) {
      FinishAfterWritesLocked(grpc::Status(
          grpc::StatusCode::NOT_FOUND,
          absl::StrCat("session ", event.session_id, " expired: ",
                       event.reason)));
    }
    return true;
  }

  void Close(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    FinishAfterWritesLocked(ToGrpcStatus(status));
  }

  void Ack(uint64_t session_id, absl::Duration ttl) {
    absl::MutexLock lock(&mu_);
    // Acks not yet written are coalesced: a client that does not read its
    // stream cannot grow the queue without bound.
    if (!queue_.empty() && queue_.back().has_ttl_ms()) {
      ToKeepAliveAck(session_id, ttl, &queue_.back());
      return;
    }
    v1::KeepAliveResponse msg;
    ToKeepAliveAck(session_id, ttl, &msg);
    queue_.push_back(std::move(msg));
    MaybeWriteLocked();
  }

  void OnWriteDone(bool ok) {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED,
                                "KeepAlive stream broken"));
      return;
    }
    MaybeWriteLocked();
    if (!writing_ && finish_pending_) FinishLocked(pending_status_);
  }

  void FinishAfterWrites(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    FinishAfterWritesLocked(status);
  }

  void FinishNow(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    FinishLocked(status);
  }

  bool finishing() {
    absl::MutexLock lock(&mu_);
    return finish_pending_ || finish_called_;
  }

  // The reactor is about to be deleted.
  void Detach() {
    absl::MutexLock lock(&mu_);
    reactor_ = nullptr;
  }

 private:
  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finish_called_ || reactor_ == nullptr || queue_.empty()) {
      return;
    }
    in_flight_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    reactor_->StartWrite(&in_flight_);
  }

  void FinishAfterWritesLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_pending_ || finish_called_) return;
    finish_pending_ = true;
    pending_status_ = status;
    if (!writing_ && queue_.empty()) FinishLocked(status);
  }

  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_called_ || reactor_ == nullptr) return;
    finish_called_ = true;
    reactor_->Finish(status);
  }

  absl::Mutex mu_;
  KeepAliveReactorBase* reactor_ ABSL_GUARDED_BY(mu_);  // Null after OnDone.
  std::deque<v1::KeepAliveResponse> queue_ ABSL_GUARDED_BY(mu_);
  v1::KeepAliveResponse in_flight_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status pending_status_ ABSL_GUARDED_BY(mu_);
};

// Reads keepalives; the first one binds the stream to its session and
// attaches the stream as the session's event sink.
class KeepAliveReactor final : public KeepAliveReactorBase {
 public:
  KeepAliveReactor(LockTable* table, Clock* clock)
      : table_(table),
        clock_(clock),
        stream_(std::make_shared<KeepAliveStream>(this)) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // The client closed its side, or the call was cancelled.
      stream_->FinishAfterWrites(grpc::Status::OK);
      return;
    }
    const uint64_t id = request_.session_id();
    if (session_id_ != 0 && id != session_id_) {
      stream_->FinishAfterWrites(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("session_id: this stream belongs to session ",
                       session_id_, ", not ", id)));
      return;
    }
    absl::StatusOr<absl::Duration> ttl =
        table_->KeepAlive(KeepAliveCmd{id, clock_->Now()});
    if (ttl.ok() && session_id_ == 0) {
      absl::Status attached = table_->AttachSink(id, stream_);
      if (attached.ok()) {
        session_id_ = id;
      } else {
        ttl = attached;
      }
    }
    if (!ttl.ok()) {
      stream_->FinishAfterWrites(ToGrpcStatus(ttl.status()));
      return;
    }
    stream_->Ack(id, *ttl);
    if (!stream_->finishing()) StartRead(&request_);
  }

  void OnWriteDone(bool ok) override { stream_->OnWriteDone(ok); }

  void OnCancel() override {
    stream_->FinishNow(grpc::Status(grpc::StatusCode::CANCELLED,
                                    "KeepAlive stream cancelled"));
  }

  void OnDone() override {
    stream_->Detach();
    if (session_id_ != 0) table_->DetachSink(session_id_, stream_.get());
    delete this;
  }

 private:
  LockTable* const table_;
  Clock* const clock_;
  const std::shared_ptr<KeepAliveStream> stream_;
  v1::KeepAliveRequest request_;  // Used by one read at a time.
  uint64_t session_id_ = 0;       // Set by the first read; reads are serial.
};

}  // namespace

KeepAliveReactorBase* NewKeepAliveReactor(LockTable* table, Clock* clock) {
  return new KeepAliveReactor(table, clock);
}

}  // namespace taala
