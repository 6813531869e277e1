#include "server/rpc/lock_service.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <vector>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/wire_time.h"
#include "server/rpc/grpc_status.h"
#include "server/core/key.h"
#include "server/rpc/proto_convert.h"
#include "server/rpc/raw_request.h"

namespace taala {
namespace {

using KeepAliveReactorBase =
    grpc::ServerBidiReactor<v1::KeepAliveRequest, v1::KeepAliveResponse>;

// Listing page sizes: 0 takes the default, larger than the maximum is
// lowered to it.
constexpr uint32_t kDefaultPageSize = 100;
constexpr uint32_t kMaxPageSize = 1000;

uint32_t PageSize(uint32_t requested) {
  return requested == 0 ? kDefaultPageSize
                        : std::min(requested, kMaxPageSize);
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx,
                                    const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// Finishes a raw-bytes call: `resp` is serialized into `out` when OK.
grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx,
                                    const absl::Status& status,
                                    const google::protobuf::Message& resp,
                                    grpc::ByteBuffer* out) {
  if (status.ok()) SerializeResponse(resp, out);
  return FinishNow(ctx, status);
}

void FillAcquireResponse(const AcquireResult& result, absl::Time now,
                         v1::AcquireResponse* resp) {
  if (!result.acquired) {
    resp->set_result(v1::AcquireResponse::TIMED_OUT);
    return;
  }
  resp->set_result(v1::AcquireResponse::ACQUIRED);
  resp->set_already_held(result.already_held);
  ToProto(result.grant, now, resp->mutable_grant());
}

// A waiting Acquire. It lives in the key's queue as a Waiter until the table
// completes it (granted, timed out, session ended, shutdown) or the caller
// cancels; it is deleted by gRPC's OnDone after Finish.
class AcquireReactor final : public grpc::ServerUnaryReactor, public Waiter {
 public:
  AcquireReactor(LockTable* table, Clock* clock, AcquireCmd cmd,
                 grpc::ByteBuffer* raw_resp)
      : table_(table),
        clock_(clock),
        cmd_(std::move(cmd)),
        raw_resp_(raw_resp) {}

  // Queues the acquire (or answers at once). Called once, right after
  // construction, before gRPC can deliver OnCancel.
  void Start() {
    std::optional<absl::StatusOr<AcquireResult>> outcome =
        table_->Acquire(cmd_, this);
    if (outcome.has_value()) Answer(*outcome);
  }

  bool Complete(absl::StatusOr<AcquireResult> result) override {
    if (gone_.load(std::memory_order_acquire)) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                          "acquire cancelled by the caller"));
      return false;
    }
    Answer(result);
    return true;
  }

  bool Gone() const override { return gone_.load(std::memory_order_acquire); }

  void OnCancel() override {
    gone_.store(true, std::memory_order_release);
    // No-op if the table already took the waiter out of the queue.
    const Waiter* self = this;  // The Waiter base, as queued.
    table_->CancelWait(CancelWaitCmd{cmd_.session_id, cmd_.key, 0, self,
                                     CancelReason::kCancelled, clock_->Now()});
  }

  void OnDone() override { delete this; }

 private:
  void Answer(const absl::StatusOr<AcquireResult>& result) {
    if (result.ok()) {
      v1::AcquireResponse resp;
      FillAcquireResponse(*result, clock_->Now(), &resp);
      SerializeResponse(resp, raw_resp_);
    }
    Finish(ToGrpcStatus(result.status()));
  }

  LockTable* const table_;
  Clock* const clock_;
  const AcquireCmd cmd_;
  grpc::ByteBuffer* const raw_resp_;
  std::atomic<bool> gone_{false};
};

// AcquireAll: the keys are taken one at a time in sorted order (one global
// order, so AcquireAll callers cannot deadlock among themselves), each step
// an ordinary Acquire with what is left of the wait. A step that must wait
// queues this reactor as the key's waiter. On a timeout, error or cancel,
// the keys taken so far (not those the session held before) are released.
class AcquireAllReactor final : public grpc::ServerUnaryReactor, public Waiter {
 public:
  struct Step {
    std::string key;
    LockMode mode;
    size_t index;  // Position in the request.
  };

  AcquireAllReactor(LockTable* table, Clock* clock, uint64_t session_id,
                    std::vector<Step> steps, absl::Time deadline,
                    absl::Duration max_hold, absl::Duration lock_delay,
                    grpc::ByteBuffer* raw_resp)
      : table_(table),
        clock_(clock),
        session_id_(session_id),
        steps_(std::move(steps)),
        deadline_(deadline),
        max_hold_(max_hold),
        lock_delay_(lock_delay),
        raw_resp_(raw_resp),
        grants_(steps_.size()) {}

  void Start() { Run(); }

  bool Complete(absl::StatusOr<AcquireResult> result) override {
    if (gone_.load()) {
      RollBack();
      Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                          "acquire cancelled by the caller"));
      return false;  // The table takes this step's grant back.
    }
    if (Take(result)) Run();
    return true;
  }

  bool Gone() const override { return gone_.load(); }

  void OnCancel() override {
    gone_.store(true);
    std::optional<std::string> key;
    {
      absl::MutexLock lock(&mu_);
      if (waiting_on_ != nullptr) key = *waiting_on_;
    }
    // No-op if that wait was granted or ended meanwhile.
    if (key.has_value()) CancelWaitOn(*key);
  }

  void OnDone() override { delete this; }

 private:
  // Takes steps until one must wait (then Complete continues) or all are
  // done or one fails.
  void Run() {
    while (next_ < steps_.size()) {
      const Step& step = steps_[next_];
      if (gone_.load()) {
        RollBack();
        Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                            "acquire cancelled by the caller"));
        return;
      }
      AcquireCmd cmd;
      cmd.session_id = session_id_;
      cmd.key = step.key;
      cmd.mode = step.mode;
      cmd.now = clock_->Now();
      cmd.wait_timeout = deadline_ == absl::InfiniteFuture()
                             ? absl::InfiniteDuration()
                             : std::max(absl::ZeroDuration(),
                                        deadline_ - cmd.now);
      cmd.max_hold = max_hold_;
      cmd.lock_delay = lock_delay_;
      {
        absl::MutexLock lock(&mu_);
        waiting_on_ = &step.key;
      }
      std::optional<absl::StatusOr<AcquireResult>> outcome =
          table_->Acquire(cmd, this);
      if (!outcome.has_value()) {
        // Queued: Complete() goes on. A cancel that came before the wait
        // was queued found nothing to cancel: cancel it now.
        if (gone_.load()) CancelWaitOn(step.key);
        return;
      }
      {
        absl::MutexLock lock(&mu_);
        waiting_on_ = nullptr;
      }
      if (!Take(*outcome)) return;
    }
    v1::AcquireAllResponse resp;
    resp.set_result(v1::AcquireResponse::ACQUIRED);
    const absl::Time now = clock_->Now();
    for (const AcquireResult& r : grants_) {
      ToProto(r.grant, now, resp.add_grants());
    }
    SerializeResponse(resp, raw_resp_);
    Finish(grpc::Status::OK);
  }

  // Records one step's outcome. False if the call is over.
  bool Take(const absl::StatusOr<AcquireResult>& result) {
    {
      absl::MutexLock lock(&mu_);
      waiting_on_ = nullptr;
    }
    if (!result.ok()) {
      RollBack();
      Finish(ToGrpcStatus(result.status()));
      return false;
    }
    if (!result->acquired) {
      RollBack();
      v1::AcquireAllResponse resp;
      resp.set_result(v1::AcquireResponse::TIMED_OUT);
      SerializeResponse(resp, raw_resp_);
      Finish(grpc::Status::OK);
      return false;
    }
    grants_[steps_[next_].index] = *result;
    ++next_;
    return true;
  }

  void CancelWaitOn(const std::string& key) {
    const Waiter* self = this;
    table_->CancelWait(CancelWaitCmd{session_id_, key, 0, self,
                                     CancelReason::kCancelled, clock_->Now()});
  }

  void RollBack() {
    const absl::Time now = clock_->Now();
    for (size_t i = 0; i < next_; ++i) {
      const AcquireResult& r = grants_[steps_[i].index];
      if (r.already_held) continue;  // Held before this call: keep it.
      table_->Release(ReleaseCmd{session_id_, r.grant.key, r.grant.token, now})
          .IgnoreError();
    }
    next_ = 0;
  }

  LockTable* const table_;
  Clock* const clock_;
  const uint64_t session_id_;
  const std::vector<Step> steps_;  // Sorted by key.
  const absl::Time deadline_;
  const absl::Duration max_hold_;
  const absl::Duration lock_delay_;
  grpc::ByteBuffer* const raw_resp_;
  std::atomic<bool> gone_{false};
  // Steps are taken one at a time (Run, or Complete of the one waiting
  // step), so these need no lock.
  size_t next_ = 0;
  std::vector<AcquireResult> grants_;  // By request position.
  // The key this call waits for, for OnCancel (another thread).
  absl::Mutex mu_;
  const std::string* waiting_on_ ABSL_GUARDED_BY(mu_) = nullptr;
};

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
      queue_.back().set_ttl_ms(absl::ToInt64Milliseconds(ttl));
      return;
    }
    v1::KeepAliveResponse msg;
    msg.set_session_id(session_id);
    msg.set_ttl_ms(absl::ToInt64Milliseconds(ttl));
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

LockServiceImpl::LockServiceImpl(LockTable* table, Clock* clock)
    : table_(table), clock_(clock) {}

grpc::ServerUnaryReactor* LockServiceImpl::CreateSession(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  v1::CreateSessionRequest request;
  if (absl::Status s = ParseRequest(*raw, &request); !s.ok()) {
    return FinishNow(ctx, s);
  }
  const v1::CreateSessionRequest* req = &request;
  CreateSessionCmd cmd;
  cmd.session_id = table_->NewSessionId();
  cmd.client_name = req->client_name();
  cmd.labels = Labels(req->labels().begin(), req->labels().end());
  cmd.ttl = absl::Milliseconds(req->ttl_ms());
  cmd.now = clock_->Now();
  absl::StatusOr<SessionInfo> info = table_->CreateSession(cmd);
  v1::CreateSessionResponse resp;
  if (info.ok()) {
    resp.set_session_id(info->session_id);
    resp.set_ttl_ms(absl::ToInt64Milliseconds(info->ttl));
  }
  return FinishNow(ctx, info.status(), resp, raw_resp);
}

KeepAliveReactorBase* LockServiceImpl::KeepAlive(
    grpc::CallbackServerContext* ctx) {
  return new KeepAliveReactor(table_, clock_);
}

grpc::ServerUnaryReactor* LockServiceImpl::KeepAliveOnce(
    grpc::CallbackServerContext* ctx, const v1::KeepAliveRequest* req,
    v1::KeepAliveResponse* resp) {
  absl::StatusOr<absl::Duration> ttl =
      table_->KeepAlive(KeepAliveCmd{req->session_id(), clock_->Now()});
  if (ttl.ok()) {
    resp->set_session_id(req->session_id());
    resp->set_ttl_ms(absl::ToInt64Milliseconds(*ttl));
  }
  return FinishNow(ctx, ttl.status());
}

grpc::ServerUnaryReactor* LockServiceImpl::CloseSession(
    grpc::CallbackServerContext* ctx, const v1::CloseSessionRequest* req,
    v1::CloseSessionResponse* resp) {
  absl::StatusOr<size_t> released =
      table_->CloseSession(CloseSessionCmd{req->session_id(), clock_->Now()});
  if (released.ok()) {
    resp->set_released_grants(static_cast<uint32_t>(*released));
  }
  return FinishNow(ctx, released.status());
}

grpc::ServerUnaryReactor* LockServiceImpl::Acquire(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  v1::AcquireRequest request;
  if (absl::Status s = ParseRequest(*raw, &request); !s.ok()) {
    return FinishNow(ctx, s);
  }
  const v1::AcquireRequest* req = &request;
  absl::StatusOr<LockMode> mode = FromProtoMode(req->mode());
  if (!mode.ok()) return FinishNow(ctx, mode.status());
  AcquireCmd cmd;
  cmd.session_id = req->session_id();
  cmd.key = std::move(*request.mutable_key());
  cmd.mode = *mode;
  cmd.wait_timeout = DurationFromMs(req->wait_timeout_ms());
  cmd.max_hold = absl::Milliseconds(req->max_hold_ms());
  cmd.semaphore_size = req->semaphore_size();
  cmd.lock_delay = absl::Milliseconds(req->lock_delay_ms());
  cmd.request_release = req->request_release();
  cmd.now = clock_->Now();
  // Fast path: answered at once (granted, held, try-lock, error) without a
  // reactor of our own.
  std::optional<absl::StatusOr<AcquireResult>> outcome =
      table_->Acquire(cmd, nullptr);
  if (outcome.has_value()) {
    v1::AcquireResponse resp;
    if (outcome->ok()) FillAcquireResponse(**outcome, cmd.now, &resp);
    return FinishNow(ctx, outcome->status(), resp, raw_resp);
  }
  auto* reactor = new AcquireReactor(table_, clock_, std::move(cmd), raw_resp);
  reactor->Start();
  return reactor;
}

grpc::ServerUnaryReactor* LockServiceImpl::Release(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  v1::ReleaseRequest req;
  if (absl::Status s = ParseRequest(*raw, &req); !s.ok()) {
    return FinishNow(ctx, s);
  }
  absl::Status released = table_->Release(
      ReleaseCmd{req.session_id(), std::move(*req.mutable_key()),
                 req.fencing_token(), clock_->Now()});
  return FinishNow(ctx, released, v1::ReleaseResponse(), raw_resp);
}

grpc::ServerUnaryReactor* LockServiceImpl::CheckFence(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  v1::CheckFenceRequest req;
  if (absl::Status s = ParseRequest(*raw, &req); !s.ok()) {
    return FinishNow(ctx, s);
  }
  absl::StatusOr<Grant> grant =
      table_->CheckFence(req.key(), req.fencing_token());
  v1::CheckFenceResponse resp;
  if (grant.ok()) ToProto(*grant, clock_->Now(), resp.mutable_grant());
  return FinishNow(ctx, grant.status(), resp, raw_resp);
}

grpc::ServerUnaryReactor* LockServiceImpl::DescribeLock(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  v1::DescribeLockRequest request;
  if (absl::Status s = ParseRequest(*raw, &request); !s.ok()) {
    return FinishNow(ctx, s);
  }
  const v1::DescribeLockRequest* req = &request;
  constexpr uint32_t kDefaultMaxWaiters = 1000;
  constexpr uint32_t kMaxWaiters = 100000;
  const uint32_t max_waiters =
      req->max_waiters() == 0 ? kDefaultMaxWaiters
                              : std::min(req->max_waiters(), kMaxWaiters);
  absl::StatusOr<LockDescription> d = table_->Describe(req->key(), max_waiters);
  v1::DescribeLockResponse resp;
  if (d.ok()) ToProto(*d, clock_->Now(), &resp);
  return FinishNow(ctx, d.status(), resp, raw_resp);
}

grpc::ServerUnaryReactor* LockServiceImpl::ListLocks(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  v1::ListLocksRequest req;
  if (absl::Status s = ParseRequest(*raw, &req); !s.ok()) {
    return FinishNow(ctx, s);
  }
  // The page token is the last key of the previous page.
  absl::StatusOr<LockPage> page = table_->ListLocks(
      req.prefix(), req.page_token(), PageSize(req.page_size()));
  v1::ListLocksResponse resp;
  if (page.ok()) {
    const absl::Time now = clock_->Now();
    for (const LockSummary& lock : page->locks) {
      ToProto(lock, now, resp.add_locks());
    }
    if (page->next_after.has_value()) {
      resp.set_next_page_token(*page->next_after);
    }
  }
  return FinishNow(ctx, page.status(), resp, raw_resp);
}

grpc::ServerUnaryReactor* LockServiceImpl::ListSessions(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  v1::ListSessionsRequest req;
  if (absl::Status s = ParseRequest(*raw, &req); !s.ok()) {
    return FinishNow(ctx, s);
  }
  // The page token is the last session id of the previous page, in decimal.
  uint64_t after = 0;
  if (!req.page_token().empty() &&
      !absl::SimpleAtoi(req.page_token(), &after)) {
    return FinishNow(ctx, absl::InvalidArgumentError(
                              "page_token: not a token ListSessions returned"));
  }
  SessionPage page = table_->ListSessions(after, PageSize(req.page_size()));
  v1::ListSessionsResponse resp;
  const absl::Time now = clock_->Now();
  for (const SessionSummary& session : page.sessions) {
    ToProto(session, now, resp.add_sessions());
  }
  if (page.next_after.has_value()) {
    resp.set_next_page_token(absl::StrCat(*page.next_after));
  }
  return FinishNow(ctx, absl::OkStatus(), resp, raw_resp);
}

grpc::ServerUnaryReactor* LockServiceImpl::AcquireAll(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  constexpr int kMaxKeys = 128;
  v1::AcquireAllRequest req;
  if (absl::Status s = ParseRequest(*raw, &req); !s.ok()) {
    return FinishNow(ctx, s);
  }
  if (req.keys_size() == 0 || req.keys_size() > kMaxKeys) {
    return FinishNow(ctx, absl::InvalidArgumentError(absl::StrCat(
                              "keys: between 1 and ", kMaxKeys,
                              " keys are needed (got ", req.keys_size(), ")")));
  }
  if (req.max_hold_ms() < 0 || req.lock_delay_ms() < 0) {
    return FinishNow(ctx, absl::InvalidArgumentError(
                              "max_hold_ms and lock_delay_ms: must not be "
                              "negative"));
  }
  std::vector<AcquireAllReactor::Step> steps;
  steps.reserve(req.keys_size());
  for (int i = 0; i < req.keys_size(); ++i) {
    v1::AcquireAllRequest::Key* k = req.mutable_keys(i);
    if (absl::Status s = ValidateKey(k->key(), table_->options().key_limits);
        !s.ok()) {
      return FinishNow(ctx, absl::InvalidArgumentError(absl::StrCat(
                                "keys[", i, "].", s.message())));
    }
    absl::StatusOr<LockMode> mode = FromProtoMode(k->mode());
    if (!mode.ok()) {
      return FinishNow(ctx, absl::InvalidArgumentError(absl::StrCat(
                                "keys[", i, "].", mode.status().message())));
    }
    steps.push_back({std::move(*k->mutable_key()), *mode,
                     static_cast<size_t>(i)});
  }
  std::sort(steps.begin(), steps.end(),
            [](const AcquireAllReactor::Step& a,
               const AcquireAllReactor::Step& b) { return a.key < b.key; });
  for (size_t i = 1; i < steps.size(); ++i) {
    if (steps[i].key == steps[i - 1].key) {
      return FinishNow(ctx, absl::InvalidArgumentError(absl::StrCat(
                                "keys: \"", steps[i].key,
                                "\" is listed twice")));
    }
  }
  const absl::Time now = clock_->Now();
  const absl::Time deadline =
      req.wait_timeout_ms() < 0
          ? absl::InfiniteFuture()
          : now + absl::Milliseconds(req.wait_timeout_ms());
  auto* reactor = new AcquireAllReactor(
      table_, clock_, req.session_id(), std::move(steps), deadline,
      absl::Milliseconds(req.max_hold_ms()),
      absl::Milliseconds(req.lock_delay_ms()), raw_resp);
  reactor->Start();
  return reactor;
}

grpc::ServerUnaryReactor* LockServiceImpl::GetWaitForGraph(
    grpc::CallbackServerContext* ctx, const v1::GetWaitForGraphRequest* req,
    v1::GetWaitForGraphResponse* resp) {
  constexpr uint32_t kDefaultMaxEdges = 10000;
  bool truncated = false;
  std::vector<WaitForGraph::Edge> edges = table_->WaitForEdges(
      req->max_edges() == 0 ? kDefaultMaxEdges : req->max_edges(),
      &truncated);
  for (const WaitForGraph::Edge& e : edges) {
    v1::WaitForEdge* out = resp->add_edges();
    out->set_waiter_session_id(e.waiter.session);
    out->set_waiter_client_name(e.waiter.client_name);
    out->set_waiter_mode(ToProtoMode(e.waiter.mode));
    out->set_blocker_session_id(e.blocker.session);
    out->set_blocker_client_name(e.blocker.client_name);
    out->set_blocker_mode(ToProtoMode(e.blocker.mode));
    out->set_key(e.key);
    out->set_queued_ahead(e.queued_ahead);
  }
  resp->set_truncated(truncated);
  resp->set_deadlocks_refused(table_->deadlocks_refused());
  return FinishNow(ctx, absl::OkStatus());
}


}  // namespace taala
