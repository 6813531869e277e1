#include "server/rpc/event_stream.h"

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/rpc/grpc_status.h"
#include "server/rpc/raw_request.h"
#include "server/rpc/translation.h"

namespace taala {
namespace {

// The shared half of a KeepAlive stream: the session's event sink and the
// stream's write queue, one write in flight at a time (the shape of gRPC's
// own health-watch reactor). Held by the reactor and by the lock table, so
// events delivered after the stream ended are dropped safely. The pending
// acknowledgement is written ahead of queued events; the events queued are
// at most the session's unacknowledged ones (the table bounds them).
class KeepAliveStream final : public SessionEventSink {
 public:
  KeepAliveStream(KeepAliveReactorBase* reactor, LockTable* table)
      : reactor_(reactor), table_(table) {}

  // An older client that never acknowledges events: each counts as
  // delivered once written. Call before the stream is attached.
  void AckOnWrite(uint64_t session_id) {
    absl::MutexLock lock(&mu_);
    ack_on_write_session_ = session_id;
  }

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
    if (absl::IsAborted(status)) {  // Taken over by a newer stream.
      Abort(ToGrpcStatus(status));
      return;
    }
    absl::MutexLock lock(&mu_);
    FinishAfterWritesLocked(ToGrpcStatus(status));
  }

  // Acknowledges the request numbered `request_sequence`. An ack not yet
  // written is replaced (coalesced): it answers every request up to the
  // newest, and a client that does not read cannot grow the queue.
  void Ack(uint64_t session_id, absl::Duration ttl,
           uint64_t request_sequence) {
    absl::MutexLock lock(&mu_);
    if (!ack_.has_value()) ack_.emplace();
    ToKeepAliveAck(session_id, ttl, &*ack_);
    ack_->set_request_sequence(request_sequence);
    MaybeWriteLocked();
  }

  void OnWriteDone(bool ok) {
    uint64_t written_event = 0;
    uint64_t session_id = 0;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED,
                                  "KeepAlive stream broken"));
        return;
      }
      if (ack_on_write_session_ != 0 && in_flight_.has_event()) {
        session_id = ack_on_write_session_;
        written_event = in_flight_.event().sequence();
      }
      MaybeWriteLocked();
      if (!writing_ && finish_pending_) FinishLocked(pending_status_);
    }
    if (written_event != 0) table_->AckEvents(session_id, written_event);
  }

  void FinishAfterWrites(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    FinishAfterWritesLocked(status);
  }

  void FinishNow(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    FinishLocked(status);
  }

  // Another stream took the session over, or a reload refused the caller:
  // this one ends as soon as its write in flight (if any) is done. What it
  // had not yet written is dropped; the table resends every unacknowledged
  // event to the next stream.
  void Abort(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    queue_.clear();
    ack_.reset();
    FinishAfterWritesLocked(status);
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
    if (writing_ || finish_called_ || reactor_ == nullptr) return;
    if (ack_.has_value()) {  // Acks go ahead of events.
      in_flight_ = std::move(*ack_);
      ack_.reset();
    } else if (!queue_.empty()) {
      in_flight_ = std::move(queue_.front());
      queue_.pop_front();
    } else {
      return;
    }
    writing_ = true;
    in_flight_bytes_.Clear();  // The last write's bytes are done with.
    SerializeResponse(in_flight_, &in_flight_bytes_);
    reactor_->StartWrite(&in_flight_bytes_);
  }

  void FinishAfterWritesLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_pending_ || finish_called_) return;
    finish_pending_ = true;
    pending_status_ = status;
    if (!writing_ && queue_.empty() && !ack_.has_value()) {
      FinishLocked(status);
    }
  }

  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_called_ || reactor_ == nullptr) return;
    finish_called_ = true;
    reactor_->Finish(status);
  }

  absl::Mutex mu_;
  KeepAliveReactorBase* reactor_ ABSL_GUARDED_BY(mu_);  // Null after OnDone.
  LockTable* const table_;
  // Nonzero: acknowledge this session's events as they are written.
  uint64_t ack_on_write_session_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<v1::KeepAliveResponse> ack_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::KeepAliveResponse> queue_ ABSL_GUARDED_BY(mu_);  // Events.
  v1::KeepAliveResponse in_flight_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer in_flight_bytes_ ABSL_GUARDED_BY(mu_);  // Its bytes.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status pending_status_ ABSL_GUARDED_BY(mu_);
};

// Reads keepalives; the first one binds the stream to its session (after
// checking that the caller owns it) and attaches the stream as the
// session's event sink, taking the session over from any older stream.
class KeepAliveReactor final : public KeepAliveReactorBase {
 public:
  KeepAliveReactor(grpc::CallbackServerContext* ctx, LockTable* table,
                   Clock* clock, CallGate* gate)
      : ctx_(ctx),
        table_(table),
        clock_(clock),
        gate_(gate),
        stream_(std::make_shared<KeepAliveStream>(this, table)),
        config_version_(gate->config_version()) {  // Before it is used.
    absl::StatusOr<auth::Identity> who = gate_->Authenticate(*ctx, kCall);
    if (!who.ok()) {
      stream_->FinishNow(ToGrpcStatus(who.status()));
      return;
    }
    identity_ = *std::move(who);
    StartRead(&raw_request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // The client closed its side, or the call was cancelled.
      stream_->FinishAfterWrites(grpc::Status::OK);
      return;
    }
    v1::KeepAliveRequest request;
    if (absl::Status s = ParseRequest(raw_request_, &request); !s.ok()) {
      stream_->FinishAfterWrites(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("KeepAliveRequest: ", s.message())));
      return;
    }
    // A reload may have revoked the caller: such a keepalive renews
    // nothing, and the stream ends dropping what it had not written (the
    // table keeps unacknowledged events).
    if (absl::Status s = RecheckCaller(); !s.ok()) {
      stream_->Abort(ToGrpcStatus(s));
      return;
    }
    const uint64_t id = request.session_id();
    if (session_id_ != 0 && id != session_id_) {
      stream_->FinishAfterWrites(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("session_id: this stream belongs to session ",
                       session_id_, ", not ", id)));
      return;
    }
    absl::StatusOr<absl::Duration> ttl = absl::ZeroDuration();
    if (session_id_ == 0 && !identity_.internal) {
      // A foreign session is NOT_FOUND exactly like an unknown one, and is
      // neither renewed nor attached.
      if (absl::Status owner = table_->CheckSessionOwner(
              id, identity_.name, identity_.anonymous);
          !owner.ok()) {
        gate_->NoteRefused(identity_, kCall, "", owner);
        ttl = owner;
      }
    }
    if (ttl.ok()) ttl = table_->KeepAlive(KeepAliveCmd{id, clock_->Now()});
    if (ttl.ok() && request.has_acked_event_sequence()) {
      table_->AckEvents(id, request.acked_event_sequence());
    }
    bool just_attached = false;
    if (ttl.ok() && session_id_ == 0) {
      if (!request.has_acked_event_sequence()) stream_->AckOnWrite(id);
      // An older stream of the session is ended ABORTED by the table.
      absl::Status attached = table_->AttachSink(id, stream_);
      if (attached.ok()) {
        session_id_ = id;
        just_attached = true;
      } else {
        ttl = attached;
      }
    }
    if (!ttl.ok()) {
      // NOT_FOUND may report the session's end that this call just
      // recorded (a lease that ran out): it leaves once that is durable.
      TransitionLog& log = table_->log();
      log.WhenDurable(log.LastLsn(),
                      [stream = stream_, status = ToGrpcStatus(ttl.status())] {
                        stream->FinishAfterWrites(status);
                      });
      return;
    }
    if (!just_attached && !stream_->finishing()) {
      // A newer stream of the session took the events and has ended: this
      // one, still renewing the session, takes them back.
      table_->AttachSink(id, stream_, /*only_if_none=*/true).IgnoreError();
    }
    stream_->Ack(id, *ttl, request.request_sequence());
    if (!stream_->finishing()) StartRead(&raw_request_);
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
  static constexpr absl::string_view kCall = "KeepAlive";

  // OK while the config that admitted the caller is in force (one atomic
  // load). After a reload: the caller identified again from the same call
  // (its metadata and connection live as long as the call), refused as a
  // new call would be (UNAUTHENTICATED), or NOT_FOUND if its identity no
  // longer owns the session bound. Audited.
  absl::Status RecheckCaller() {
    const uint64_t now = gate_->config_version();
    if (now == config_version_) return absl::OkStatus();
    config_version_ = now;  // Read before the config Recheck uses.
    absl::StatusOr<auth::Identity> who =
        gate_->Recheck(*ctx_, std::nullopt, "");
    if (!who.ok()) {
      gate_->NoteRefused(identity_, kCall, "", who.status());
      return who.status();
    }
    identity_ = *std::move(who);
    if (session_id_ != 0 && !identity_.internal) {
      if (absl::Status owner = table_->CheckSessionOwner(
              session_id_, identity_.name, identity_.anonymous);
          !owner.ok()) {
        gate_->NoteRefused(identity_, kCall, "", owner);
        return owner;
      }
    }
    return absl::OkStatus();
  }

  grpc::CallbackServerContext* const ctx_;  // Lives until OnDone.
  LockTable* const table_;
  Clock* const clock_;
  CallGate* const gate_;
  const std::shared_ptr<KeepAliveStream> stream_;
  auth::Identity identity_;        // Set before the first read.
  grpc::ByteBuffer raw_request_;   // Used by one read at a time.
  uint64_t session_id_ = 0;        // Set by the first read; reads are serial.
  uint64_t config_version_;        // The caller was checked under it.
};

}  // namespace

KeepAliveReactorBase* NewKeepAliveReactor(grpc::CallbackServerContext* ctx,
                                          LockTable* table, Clock* clock,
                                          CallGate* gate) {
  return new KeepAliveReactor(ctx, table, clock, gate);
}

}  // namespace taala
