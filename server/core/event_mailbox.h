#ifndef TAALA_SERVER_CORE_EVENT_MAILBOX_H_
#define TAALA_SERVER_CORE_EVENT_MAILBOX_H_

// A session's events (grant revoked, release requested, session expired)
// and where they go: the sink of its KeepAlive stream, or, while it has none,
// a bounded backlog kept for the next stream. This is transport state, kept
// apart from the session's locks.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace taala {

struct SessionEvent {
  enum class Type { kGrantRevoked, kSessionExpired, kReleaseRequested };
  Type type;
  uint64_t session_id = 0;
  std::string key;  // kGrantRevoked, kReleaseRequested.
  uint64_t token = 0;
  std::string reason;
  // kReleaseRequested: who asks.
  uint64_t requester_session_id = 0;
  std::string requester_client_name;
};

// Receives one session's events (the KeepAlive stream). Held by shared_ptr so
// the table can deliver after the stream has gone (the sink then drops them).
class SessionEventSink {
 public:
  virtual ~SessionEventSink() = default;
  // Never called under a table mutex. Returns false if the sink can no
  // longer deliver (its stream is ending): the table then detaches it and
  // keeps the event for the session's next stream.
  virtual bool Deliver(const SessionEvent& event) = 0;
  // The table is shutting down: end the stream with `status`.
  virtual void Close(const absl::Status& status) = 0;
};

namespace table_internal {

// An event on its way to a sink, delivered once no mutex is held.
struct PendingEvent {
  std::shared_ptr<SessionEventSink> sink;
  SessionEvent event;
};

// One session's sink and undelivered backlog.
//
// Thread safety: every method may be called concurrently. mu_ is a leaf: it
// is taken under the session's mutex (which orders it against the session
// ending) and nothing is taken under it. Sinks are never called here; a sink
// handed back is released or called by the caller, outside every mutex.
class EventMailbox {
 public:
  // Keeps at most `capacity` undelivered events (the oldest are dropped).
  explicit EventMailbox(size_t capacity) : capacity_(capacity) {}
  EventMailbox(const EventMailbox&) = delete;
  EventMailbox& operator=(const EventMailbox&) = delete;

  // With a sink attached, appends (sink, event) to `out` for delivery;
  // otherwise keeps `event` in the backlog.
  void Post(SessionEvent event, std::vector<PendingEvent>& out)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Makes `sink` the current sink and returns the backlog for it.
  std::deque<SessionEvent> Attach(std::shared_ptr<SessionEventSink> sink)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Detaches `sink` if it is current; returns it (to be destroyed unlocked).
  std::shared_ptr<SessionEventSink> Detach(const SessionEventSink* sink)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Detaches whatever sink is current and returns it (shutdown).
  std::shared_ptr<SessionEventSink> TakeSink() ABSL_LOCKS_EXCLUDED(mu_);
  // `failed` could not deliver `event`: detaches it if current (into
  // `*detached`). Returns the newer sink to try, or null after keeping the
  // event in the backlog.
  std::shared_ptr<SessionEventSink> Bounce(
      const SessionEventSink* failed, SessionEvent& event,
      std::shared_ptr<SessionEventSink>* detached) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void KeepLocked(SessionEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t capacity_;
  absl::Mutex mu_;
  std::shared_ptr<SessionEventSink> sink_ ABSL_GUARDED_BY(mu_);
  std::deque<SessionEvent> undelivered_ ABSL_GUARDED_BY(mu_);
};

}  // namespace table_internal

}  // namespace taala

#endif  // TAALA_SERVER_CORE_EVENT_MAILBOX_H_
