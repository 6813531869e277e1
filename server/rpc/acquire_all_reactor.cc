// The AcquireAll reactor: a thin gRPC shell over MultiAcquire
// (server/core/multi_acquire.h), which owns the sequencing. Declared in
// acquire_reactor.h.

#include <utility>

#include "server/core/multi_acquire.h"
#include "server/rpc/acquire_reactor.h"
#include "server/rpc/caller_views.h"
#include "server/rpc/durable_finish.h"
#include "server/rpc/grpc_status.h"
#include "server/rpc/raw_request.h"
#include "server/rpc/translation.h"

namespace taala {
namespace {

// Lives until gRPC's OnDone, which comes only after Finish; Finish is
// called from OnMultiAcquireDone, after which MultiAcquire touches nothing.
class AcquireAllReactor final : public grpc::ServerUnaryReactor,
                                public MultiAcquireListener {
 public:
  AcquireAllReactor(LockTable* table, Clock* clock, CallGate* gate,
                    auth::Identity who, MultiAcquireCmd cmd,
                    grpc::ByteBuffer* raw_resp, bool whole_cycle)
      : clock_(clock),
        gate_(gate),
        who_(std::move(who)),
        log_(&table->log()),
        raw_resp_(raw_resp),
        whole_cycle_(whole_cycle),
        multi_(table, clock, std::move(cmd), this) {}

  // Takes the keys (or as many as it can before one must wait) and returns
  // this reactor for gRPC. Called once, right after construction.
  grpc::ServerUnaryReactor* Start() {
    multi_.Start();
    return this;
  }

  void OnMultiAcquireDone(absl::StatusOr<MultiAcquireResult> result) override {
    if (result.ok()) {
      v1::AcquireAllResponse resp;
      ToProto(*result, clock_->Now(), &resp);
      SerializeResponse(resp, raw_resp_);
    }
    // Past a limit: audited (MultiAcquire reports with no table mutex held).
    if (absl::IsResourceExhausted(result.status())) {
      gate_->NoteRefused(who_, "AcquireAll", "", result.status());
    }
    FinishWhenDurable(*log_, this,
                      ToGrpcStatus(whole_cycle_
                                       ? result.status()
                                       : WithoutForeignCycle(result.status())));
  }

  void OnCancel() override { multi_.Cancel(); }

  void OnDone() override { delete this; }

 private:
  Clock* const clock_;
  CallGate* const gate_;
  const auth::Identity who_;
  TransitionLog* const log_;
  grpc::ByteBuffer* const raw_resp_;
  const bool whole_cycle_;
  MultiAcquire multi_;
};

}  // namespace

grpc::ServerUnaryReactor* StartAcquireAllReactor(LockTable* table,
                                                 Clock* clock, CallGate* gate,
                                                 auth::Identity who,
                                                 MultiAcquireCmd cmd,
                                                 grpc::ByteBuffer* raw_resp,
                                                 bool whole_cycle) {
  return (new AcquireAllReactor(table, clock, gate, std::move(who),
                                std::move(cmd), raw_resp, whole_cycle))
      ->Start();
}

}  // namespace taala
