#include "server/rpc/acquire_reactor.h"

#include <atomic>
#include <optional>
#include <utility>

#include "server/rpc/durable_finish.h"
#include "server/rpc/caller_views.h"
#include "server/rpc/grpc_status.h"
#include "server/rpc/raw_request.h"
#include "server/rpc/translation.h"

namespace taala {
namespace {

// A waiting Acquire. It lives in the key's queue as a Waiter until the table
// completes it (granted, timed out, session ended, shutdown) or the caller
// cancels; it is deleted by gRPC's OnDone after Finish.
class AcquireReactor final : public grpc::ServerUnaryReactor, public Waiter {
 public:
  AcquireReactor(LockTable* table, Clock* clock, CallGate* gate,
                 auth::Identity who, AcquireCmd cmd,
                 grpc::ByteBuffer* raw_resp, bool whole_cycle)
      : table_(table),
        clock_(clock),
        gate_(gate),
        who_(std::move(who)),
        cmd_(std::move(cmd)),
        raw_resp_(raw_resp),
        whole_cycle_(whole_cycle) {}

  // Queues the acquire (or answers at once) and returns this reactor for
  // gRPC. Called once, right after construction, before gRPC can deliver
  // OnCancel.
  grpc::ServerUnaryReactor* Start() {
    std::optional<absl::StatusOr<AcquireResult>> outcome =
        table_->Acquire(cmd_, this);
    if (outcome.has_value()) Answer(*outcome);
    return this;
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
      ToProto(*result, clock_->Now(), &resp);
      SerializeResponse(resp, raw_resp_);
    }
    // Past a limit: audited (never under a table mutex: the table answers
    // its waiters after releasing them).
    if (absl::IsResourceExhausted(result.status())) {
      gate_->NoteRefused(who_, "Acquire", cmd_.key, result.status());
    }
    FinishWhenDurable(table_->log(), this,
                      ToGrpcStatus(whole_cycle_
                                       ? result.status()
                                       : WithoutForeignCycle(result.status())));
  }

  LockTable* const table_;
  Clock* const clock_;
  CallGate* const gate_;
  const auth::Identity who_;
  const AcquireCmd cmd_;
  grpc::ByteBuffer* const raw_resp_;
  const bool whole_cycle_;
  std::atomic<bool> gone_{false};
};

}  // namespace

grpc::ServerUnaryReactor* StartAcquireReactor(LockTable* table, Clock* clock,
                                              CallGate* gate,
                                              auth::Identity who,
                                              AcquireCmd cmd,
                                              grpc::ByteBuffer* raw_resp,
                                              bool whole_cycle) {
  return (new AcquireReactor(table, clock, gate, std::move(who),
                             std::move(cmd), raw_resp, whole_cycle))
      ->Start();
}

}  // namespace taala
