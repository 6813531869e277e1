#ifndef TAALA_SERVER_RPC_WATCH_STREAM_H_
#define TAALA_SERVER_RPC_WATCH_STREAM_H_

// Watch streams and their pump. A Watch call registers with the hub
// (server/core/watch_hub.h), takes its snapshot (or finds where to resume)
// and joins the pump: one thread that moves the hub's records, once
// durable, to each watcher whose filter they match, into the watcher's own
// bounded queue, and starts its write (one write in flight per stream; the
// stream's OnWriteDone starts the next). A watcher whose queue is full, or
// whose cursor the ring overwrote, is ended with RESOURCE_EXHAUSTED naming
// the last LSN it was sent. Nothing here is ever waited on by the table:
// the pump holds the hub's mutex only inside the hub's own calls and never
// a table mutex; a reactor is finished under its own stream's mutex only.

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/core/lock_table.h"
#include "server/core/watch_hub.h"
#include "server/rpc/watch_caller.h"
#include "taala/v1/lock_service.pb.h"

namespace taala {

class WatchStream;

class WatchPump {
 public:
  // `table` and `hub` (the table's log) must outlive the pump. Each
  // watcher queues at most `buffer` events (taalad --watch_buffer).
  WatchPump(LockTable* table, WatchHub* hub, size_t buffer);
  ~WatchPump();  // Stops the thread (Shutdown first to end the streams).

  void Start();
  // Ends every watcher with UNAVAILABLE and refuses new ones.
  void Shutdown();

  // Watchers now (those taking their snapshot too).
  int64_t watchers() const { return hub_->watchers(); }
  uint64_t ended_too_slow() const { return too_slow_.load(); }

  // For the streams.
  void Join(const std::shared_ptr<WatchStream>& w);
  void Leave(const WatchStream* w);
  void CountTooSlow() { too_slow_.fetch_add(1); }
  WatchHub* hub() const { return hub_; }
  LockTable* table() const { return table_; }
  size_t buffer() const { return buffer_; }
  bool shutting_down() const { return shutting_down_.load(); }

 private:
  void Run();

  LockTable* const table_;
  WatchHub* const hub_;
  const size_t buffer_;
  std::atomic<uint64_t> too_slow_{0};
  std::atomic<bool> shutting_down_{false};
  absl::Mutex mu_;
  std::vector<std::shared_ptr<WatchStream>> streams_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// LockService.Watch on `pump` (null: UNIMPLEMENTED), served raw
// (raw_request.h): a request that does not parse, say a prefix that is not
// UTF-8, gets INVALID_ARGUMENT rather than gRPC's bare UNIMPLEMENTED. The
// reactor deletes itself when done. `caller`: who it was authorized for;
// after a reload the stream checks again before its next write and, refused,
// ends with PERMISSION_DENIED or UNAUTHENTICATED, writing nothing more.
grpc::ServerWriteReactor<grpc::ByteBuffer>* NewWatchReactor(
    WatchPump* pump, const grpc::ByteBuffer& raw,
    WatchCaller caller = WatchCaller());

}  // namespace taala

#endif  // TAALA_SERVER_RPC_WATCH_STREAM_H_
