#ifndef TAALA_SERVER_CORE_EVENT_MAILBOX_H_
#define TAALA_SERVER_CORE_EVENT_MAILBOX_H_

// A session's events (grant revoked, release requested, session expired)
// and their delivery protocol, kept apart from the session's locks and from
// any one transport (the KeepAlive stream today, a session stream later):
//
//  - every event kept gets the session's next sequence number (1, 2, ...);
//  - an event stays in the mailbox until the client acknowledges it (Ack
//    with the highest sequence it has processed), and every stream that
//    attaches is sent all unacknowledged events, in sequence order, so a
//    stream that breaks loses nothing; the client drops duplicates by
//    sequence;
//  - at most `capacity` events are kept. RELEASE_REQUESTED is coalesced per
//    key and grant (one outstanding request per grant until it is
//    acknowledged) and is advisory: with the mailbox full it is dropped.
//    GRANT_REVOKED is never dropped: with the mailbox full it is kept and
//    Post reports an overflow, and the table ends the session. SESSION_EXPIRED
//    is always kept (it is the last event).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/core/transition.h"

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
  // Set by the mailbox: the session's sequence number of this event.
  uint64_t sequence = 0;
  // Set by the mailbox: the LSN of the event's kEventPosted record. The
  // event is sent only once that record is durable.
  uint64_t lsn = 0;
};

// Receives one session's events (the KeepAlive stream). Held by shared_ptr so
// the table can deliver after the stream has gone (the sink then drops them).
class SessionEventSink {
 public:
  virtual ~SessionEventSink() = default;
  // Never called under a table mutex; called for one session's events by one
  // thread at a time, in sequence order. Returns false if the sink can no
  // longer deliver (its stream is ending): the table then detaches it. The
  // event stays unacknowledged either way, for the session's next stream.
  virtual bool Deliver(const SessionEvent& event) = 0;
  // End the stream with `status`: the table is shutting down, or (ABORTED)
  // a newer sink took the session over.
  virtual void Close(const absl::Status& status) = 0;
};

namespace table_internal {

// One session's sink and unacknowledged events.
//
// Thread safety: every method may be called concurrently. mu_ is a leaf: it
// is taken under the session's mutex (which orders it against the session
// ending) and nothing is taken under it. Sinks are called only by Flush,
// with no mutex held, by one thread at a time.
class EventMailbox : public std::enable_shared_from_this<EventMailbox> {
 public:
  enum class Posted { kKept, kDropped, kOverflow };

  // Every event kept is recorded in `log` (a kEventPosted transition) under
  // the mailbox's mutex, with its sequence number. `log` must outlive it.
  EventMailbox(size_t capacity, TransitionLog* log)
      : capacity_(capacity), log_(log) {}
  EventMailbox(const EventMailbox&) = delete;
  EventMailbox& operator=(const EventMailbox&) = delete;

  // Keeps `event` under the next sequence number (or coalesces or drops it,
  // see above). With a sink attached, appends this mailbox to `flush`: the
  // caller calls Flush once it holds no mutex. kOverflow (once): the
  // mailbox is full of events that must not be dropped; end the session.
  Posted Post(SessionEvent event,
              std::vector<std::shared_ptr<EventMailbox>>& flush)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Makes `sink` the current sink; every unacknowledged event is to be sent
  // to it by the next Flush (call it once no mutex is held). Returns the
  // sink it replaces (null if none), for the caller to end outside every
  // table mutex.
  std::shared_ptr<SessionEventSink> Attach(
      std::shared_ptr<SessionEventSink> sink) ABSL_LOCKS_EXCLUDED(mu_);
  // True if a sink is attached.
  bool HasSink() ABSL_LOCKS_EXCLUDED(mu_);
  // Detaches `sink` if it is current; returns it (to be destroyed unlocked).
  std::shared_ptr<SessionEventSink> Detach(const SessionEventSink* sink)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Detaches whatever sink is current and returns it (shutdown).
  std::shared_ptr<SessionEventSink> TakeSink() ABSL_LOCKS_EXCLUDED(mu_);
  // The client has processed every event up to `sequence`: forgets them
  // (never one no stream has been sent: a larger ack counts as the last sent).
  void Ack(uint64_t sequence) ABSL_LOCKS_EXCLUDED(mu_);
  // A restarted server's mailbox: `events` (oldest first, as recorded) are
  // unacknowledged as far as it knows, and the next event follows
  // `last_sequence`. Their records are in the log already. Call before any
  // other method.
  void Restore(std::vector<SessionEvent> events, uint64_t last_sequence)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Sends the current sink every event it has not been sent, in sequence
  // order, as far as their records are durable (the rest wait for a later
  // Flush). While one thread flushes, another's Flush returns at once and
  // the first sends its events too. Call with no mutex held.
  void Flush() ABSL_LOCKS_EXCLUDED(mu_);

  // Events kept (unacknowledged).
  size_t pending() ABSL_LOCKS_EXCLUDED(mu_);
  // Copies of them, oldest first, and the last sequence given out.
  std::vector<SessionEvent> PendingEvents() ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t last_sequence() ABSL_LOCKS_EXCLUDED(mu_);
  // True once a GRANT_REVOKED found the backlog full (the session ends).
  bool overflowed() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const size_t capacity_;
  TransitionLog* const log_;
  absl::Mutex mu_;
  std::shared_ptr<SessionEventSink> sink_ ABSL_GUARDED_BY(mu_);
  // Unacknowledged events: sequences acked_ + 1 .. last_sequence_.
  std::deque<SessionEvent> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t last_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  // The highest sequence handed to the current sink.
  uint64_t sent_through_ ABSL_GUARDED_BY(mu_) = 0;
  // The highest sequence ever handed to any sink: a client cannot have
  // processed a later one, so an ack beyond it forgets nothing unsent.
  uint64_t handed_through_ ABSL_GUARDED_BY(mu_) = 0;
  bool flushing_ ABSL_GUARDED_BY(mu_) = false;
  // Events at the front of pending_ restored after a restart (Restore), not
  // acknowledged since: they do not count against the capacity.
  size_t restored_ ABSL_GUARDED_BY(mu_) = 0;
  size_t Counted() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return pending_.size() - restored_;
  }
  bool overflowed_ ABSL_GUARDED_BY(mu_) = false;
  // Pending RELEASE_REQUESTED events, by key and the grant's token. A set,
  // not one token per key: an undone upgrade gives the session back an
  // older token, which may still have a request pending. Bounded by the
  // backlog: each entry is a pending event, erased when it is acknowledged.
  absl::flat_hash_set<std::pair<std::string, uint64_t>> release_asked_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace table_internal

}  // namespace taala

#endif  // TAALA_SERVER_CORE_EVENT_MAILBOX_H_
