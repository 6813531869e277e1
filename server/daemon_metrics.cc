#include "server/daemon_metrics.h"

#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_interceptor.h>

#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

namespace taala {
namespace {

// One per call: created when the call starts, destroyed when gRPC is done
// with it.
class CountingInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit CountingInterceptor(InFlightCalls* calls) : calls_(calls) {
    calls_->Add(1);
  }
  ~CountingInterceptor() override { calls_->Add(-1); }
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }

 private:
  InFlightCalls* const calls_;
};

class CountingFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CountingFactory(InFlightCalls* calls) : calls_(calls) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CountingInterceptor(calls_);
  }

 private:
  InFlightCalls* const calls_;
};

void ToProto(const wal::FixedHistogram::Snapshot& s, double scale,
             v1::Histogram* out) {
  out->Clear();
  for (size_t i = 0; i < s.bounds.size(); ++i) {
    v1::Histogram::Bucket* b = out->add_buckets();
    b->set_le(static_cast<double>(s.bounds[i]) * scale);
    b->set_count(s.cumulative[i]);
  }
  out->set_count(s.count);
  out->set_sum(static_cast<double>(s.sum) * scale);
}

}  // namespace

void InFlightCalls::InstallOn(grpc::ServerBuilder* builder) {
  std::vector<std::unique_ptr<
      grpc::experimental::ServerInterceptorFactoryInterface>>
      creators;
  creators.push_back(std::make_unique<CountingFactory>(this));
  builder->experimental().SetInterceptorCreators(std::move(creators));
}

void InFlightCalls::Add(int64_t delta) {
  // A call may end on another thread than it started on: the slots' sum is
  // what counts, not any one slot.
  static thread_local const size_t slot =
      std::hash<std::thread::id>()(std::this_thread::get_id()) % kSlots;
  slots_[slot].value.fetch_add(delta, std::memory_order_relaxed);
}

uint64_t InFlightCalls::Count() const {
  int64_t sum = 0;
  for (const Slot& s : slots_) sum += s.value.load(std::memory_order_relaxed);
  return sum > 0 ? static_cast<uint64_t>(sum) : 0;
}

void FillWalMetrics(const wal::Wal::Stats& stats, v1::Metrics* metrics) {
  ToProto(stats.fsync_ns, 1e-9, metrics->mutable_wal_fsync_seconds());
  ToProto(stats.batch_records, 1, metrics->mutable_wal_batch_records());
}

}  // namespace taala
