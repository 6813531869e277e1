#include "server/daemon_metrics.h"

#include <grpc/grpc.h>
#include <grpc/support/alloc.h>

#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace taala {
namespace {

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

// A channelz counter: an int64 in proto3 JSON (a string), absent when 0.
int64_t Counter(const google::protobuf::Struct& data, const char* name) {
  auto it = data.fields().find(name);
  int64_t n = 0;
  if (it == data.fields().end() ||
      !absl::SimpleAtoi(it->second.string_value(), &n)) {
    return 0;
  }
  return n;
}

}  // namespace

uint64_t GrpcCallsInFlight() {
  // The channelz "GetServersResponse" as JSON: {"server":[{"data":
  // {"callsStarted":"4","callsSucceeded":"3",...}},...],"end":true}. A call
  // is counted started when the server accepts it and succeeded or failed
  // when its final status is settled.
  std::unique_ptr<char, void (*)(void*)> json(grpc_channelz_get_servers(0),
                                              gpr_free);
  if (json == nullptr) return 0;
  google::protobuf::Struct servers;
  if (!google::protobuf::util::JsonStringToMessage(json.get(), &servers).ok()) {
    return 0;
  }
  int64_t in_flight = 0;
  auto list = servers.fields().find("server");
  if (list == servers.fields().end()) return 0;
  for (const google::protobuf::Value& server : list->second.list_value().values()) {
    auto data = server.struct_value().fields().find("data");
    if (data == server.struct_value().fields().end()) continue;
    const google::protobuf::Struct& d = data->second.struct_value();
    in_flight += Counter(d, "callsStarted") - Counter(d, "callsSucceeded") -
                 Counter(d, "callsFailed");
  }
  return in_flight > 0 ? static_cast<uint64_t>(in_flight) : 0;
}

void FillWalMetrics(const wal::Wal::Stats& stats, v1::Metrics* metrics) {
  ToProto(stats.fsync_ns, 1e-9, metrics->mutable_wal_fsync_seconds());
  ToProto(stats.batch_records, 1, metrics->mutable_wal_batch_records());
}

}  // namespace taala
