#ifndef TAALA_CLIENT_KEEPALIVE_LOOP_H_
#define TAALA_CLIENT_KEEPALIVE_LOOP_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/lease_tracker.h"
#include "client/rpc_caller.h"
#include "taala/v1/lock_service.pb.h"

namespace taala {

// Keeps one session's lease alive: a thread that keeps a KeepAlive stream
// open (reconnecting with backoff, failing over through the RpcCaller),
// sends a renewal every third of the TTL, a reader thread per stream that
// turns acknowledgements into the confirmed end of the lease (LeaseTracker)
// and queues server events, and an event thread that hands them up, so a
// slow handler never delays the reading of acks. Events are handed up once
// each (a stream resends the unacknowledged ones: duplicates are dropped by
// sequence), and every renewal acknowledges the events handled so far. It
// decides when the lease is lost: the server said the session expired
// (NOT_FOUND), or no renewal was confirmed for a whole TTL. Internal to
// taala_client.
//
// Thread safety: all public methods may be called concurrently. Callbacks
// run on the loop's own threads, never under mu_. Lock order: mu_ before
// the RpcCaller's leaf locks (Jitter is called under mu_); join_mu_ is never
// held together with mu_.
class KeepAliveLoop {
 public:
  struct Callbacks {
    // A server event other than SESSION_EXPIRED (which the loop handles),
    // on the event thread, one at a time, in the server's order.
    std::function<void(const v1::SessionEvent&)> on_event;
    // Once, when the lease is lost; never after MarkClosed().
    std::function<void(const absl::Status&)> on_lost;
  };

  // `caller` must outlive *this. `created_at`: when the CreateSession
  // request left (SteadyNow()); `ttl`: the lease the server granted.
  KeepAliveLoop(RpcCaller* caller, uint64_t session_id, absl::Duration ttl,
                absl::Time created_at, Callbacks callbacks);
  ~KeepAliveLoop();  // Stop().
  KeepAliveLoop(const KeepAliveLoop&) = delete;
  KeepAliveLoop& operator=(const KeepAliveLoop&) = delete;

  // Starts the keepalive and event threads. Call once.
  void Start() ABSL_LOCKS_EXCLUDED(join_mu_);
  // Stops the keepalive and event threads and waits for them. Idempotent.
  // REQUIRES: !OnOwnThread().
  void Stop() ABSL_LOCKS_EXCLUDED(mu_, join_mu_);

  // Lost or closed, or past the end of the last confirmed lease even if the
  // keepalive thread has not noticed yet. Lock-free.
  bool lost() const;
  // Why it was lost or closed; OK while it is not.
  absl::Status lost_status() const ABSL_LOCKS_EXCLUDED(mu_);
  // The session is closed: lost() from now on, and no on_lost. Returns true
  // the first time only.
  bool MarkClosed() ABSL_LOCKS_EXCLUDED(mu_);

  // A call of the session was answered NOT_FOUND: the server does not know
  // the session, which is final. lost() from now on; on_lost runs on the
  // keepalive thread, which stops. Any thread; idempotent.
  void EndedByServer(absl::Status why) ABSL_LOCKS_EXCLUDED(mu_);

  // True on the loop's own threads (where callbacks run).
  bool OnOwnThread() const;

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Hands queued events to on_event until stopping (event thread).
  void RunEvents() ABSL_LOCKS_EXCLUDED(mu_);
  // One message from the stream (reader thread).
  void Handle(const v1::KeepAliveResponse& msg) ABSL_LOCKS_EXCLUDED(mu_);
  // Marks the session lost (first reason wins). on_lost runs when Run ends.
  void MarkLost(absl::Status why) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs on_lost once if lost (not closed); on the keepalive thread.
  void NotifyLost() ABSL_LOCKS_EXCLUDED(mu_);
  // Waits before opening the next stream: until `until`, or sooner once a
  // channel that was down connects (a restarted server is asked at once).
  // False if stopping or lost.
  bool WaitToReconnect(size_t endpoint, absl::Time until)
      ABSL_LOCKS_EXCLUDED(mu_);
  void PublishConfirmedUntil(absl::Time t);
  // "session N: no keepalive confirmed for a whole TTL (T)".
  std::string NoConfirmationMessage() const;

  RpcCaller* const caller_;
  const uint64_t id_;
  const absl::Duration ttl_;
  const Callbacks callbacks_;
  std::atomic<bool> lost_{false};
  // lease_.confirmed_until() for lost(), readable without the mutex.
  std::atomic<int64_t> confirmed_until_ns_{0};

  mutable absl::Mutex mu_;
  absl::Status lost_status_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool lost_notified_ ABSL_GUARDED_BY(mu_) = false;
  bool stream_broken_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* stream_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Acknowledged keepalives to the confirmed end of the lease.
  LeaseTracker lease_ ABSL_GUARDED_BY(mu_);
  // Events received and not yet handed up, in sequence order.
  std::deque<v1::SessionEvent> events_ ABSL_GUARDED_BY(mu_);
  // The highest event sequence received, and handled (acknowledged).
  uint64_t received_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t handled_sequence_ ABSL_GUARDED_BY(mu_) = 0;

  std::atomic<std::thread::id> keepalive_tid_{};
  std::atomic<std::thread::id> reader_tid_{};
  std::atomic<std::thread::id> event_tid_{};
  absl::Mutex join_mu_;  // Serializes Start and joins of the threads.
  std::thread thread_ ABSL_GUARDED_BY(join_mu_);
  std::thread event_thread_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace taala

#endif  // TAALA_CLIENT_KEEPALIVE_LOOP_H_
