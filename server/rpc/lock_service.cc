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
#include "server/rpc/acquire_reactor.h"
#include "server/rpc/event_stream.h"
#include "server/rpc/grpc_status.h"
#include "server/core/key.h"
#include "server/rpc/raw_request.h"
#include "server/rpc/translation.h"

namespace taala {
namespace {

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

// Serves a unary call whose request arrives as raw bytes: parses it, runs
// `handle(&request, &response)` and finishes with its status, sending the
// response when OK.
template <typename Request, typename Response, typename Handler>
grpc::ServerUnaryReactor* ServeRaw(grpc::CallbackServerContext* ctx,
                                   const grpc::ByteBuffer* raw,
                                   grpc::ByteBuffer* raw_resp,
                                   Handler handle) {
  Request req;
  Response resp;
  absl::Status status = ParseRequest(*raw, &req);
  if (status.ok()) status = handle(&req, &resp);
  return FinishNow(ctx, status, resp, raw_resp);
}

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

}  // namespace

LockServiceImpl::LockServiceImpl(LockTable* table, Clock* clock)
    : table_(table), clock_(clock) {}

grpc::ServerUnaryReactor* LockServiceImpl::CreateSession(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::CreateSessionRequest, v1::CreateSessionResponse>(
      ctx, raw, raw_resp, [this](auto* req, auto* resp) {
        const uint64_t id = table_->NewSessionId();
        absl::StatusOr<SessionInfo> info =
            table_->CreateSession(ToCreateSessionCmd(*req, id, clock_->Now()));
        if (info.ok()) ToProto(*info, resp);
        return info.status();
      });
}

KeepAliveReactorBase* LockServiceImpl::KeepAlive(
    grpc::CallbackServerContext* ctx) {
  return NewKeepAliveReactor(table_, clock_);
}

grpc::ServerUnaryReactor* LockServiceImpl::KeepAliveOnce(
    grpc::CallbackServerContext* ctx, const v1::KeepAliveRequest* req,
    v1::KeepAliveResponse* resp) {
  absl::StatusOr<absl::Duration> ttl =
      table_->KeepAlive(KeepAliveCmd{req->session_id(), clock_->Now()});
  if (ttl.ok()) ToKeepAliveAck(req->session_id(), *ttl, resp);
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
  v1::AcquireRequest req;
  if (absl::Status s = ParseRequest(*raw, &req); !s.ok()) {
    return FinishNow(ctx, s);
  }
  absl::StatusOr<AcquireCmd> cmd = ToAcquireCmd(&req, clock_->Now());
  if (!cmd.ok()) return FinishNow(ctx, cmd.status());
  // Fast path: answered at once (granted, held, try-lock, error) without a
  // reactor of our own.
  std::optional<absl::StatusOr<AcquireResult>> outcome =
      table_->Acquire(*cmd, nullptr);
  if (outcome.has_value()) {
    v1::AcquireResponse resp;
    if (outcome->ok()) ToProto(**outcome, cmd->now, &resp);
    return FinishNow(ctx, outcome->status(), resp, raw_resp);
  }
  return StartAcquireReactor(table_, clock_, *std::move(cmd), raw_resp);
}

grpc::ServerUnaryReactor* LockServiceImpl::Release(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::ReleaseRequest, v1::ReleaseResponse>(
      ctx, raw, raw_resp, [this](auto* req, auto* /*resp*/) {
        return table_->Release(ToReleaseCmd(req, clock_->Now()));
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::CheckFence(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::CheckFenceRequest, v1::CheckFenceResponse>(
      ctx, raw, raw_resp, [this](auto* req, auto* resp) {
        absl::StatusOr<Grant> grant =
            table_->CheckFence(req->key(), req->fencing_token());
        if (grant.ok()) ToProto(*grant, clock_->Now(), resp->mutable_grant());
        return grant.status();
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::DescribeLock(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::DescribeLockRequest, v1::DescribeLockResponse>(
      ctx, raw, raw_resp, [this](auto* req, auto* resp) {
        absl::StatusOr<LockDescription> d =
            table_->Describe(req->key(), MaxWaiters(req->max_waiters()));
        if (d.ok()) ToProto(*d, clock_->Now(), resp);
        return d.status();
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::ListLocks(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::ListLocksRequest, v1::ListLocksResponse>(
      ctx, raw, raw_resp, [this](auto* req, auto* resp) {
        absl::StatusOr<LockPage> page = table_->ListLocks(
            req->prefix(), req->page_token(), PageSize(req->page_size()));
        if (page.ok()) ToProto(*page, clock_->Now(), resp);
        return page.status();
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::ListSessions(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::ListSessionsRequest, v1::ListSessionsResponse>(
      ctx, raw, raw_resp, [this](auto* req, auto* resp) {
        absl::StatusOr<uint64_t> after =
            FromSessionPageToken(req->page_token());
        if (!after.ok()) return after.status();
        ToProto(table_->ListSessions(*after, PageSize(req->page_size())),
                clock_->Now(), resp);
        return absl::OkStatus();
      });
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
  bool truncated = false;
  for (const WaitForGraph::Edge& e :
       table_->WaitForEdges(MaxEdges(req->max_edges()), &truncated)) {
    ToProto(e, resp->add_edges());
  }
  resp->set_truncated(truncated);
  resp->set_deadlocks_refused(table_->deadlocks_refused());
  return FinishNow(ctx, absl::OkStatus());
}

}  // namespace taala
