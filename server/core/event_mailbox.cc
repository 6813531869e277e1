#include "server/core/event_mailbox.h"

#include <algorithm>
#include <utility>

namespace taala {
namespace table_internal {

EventMailbox::Posted EventMailbox::Post(
    SessionEvent event, std::vector<std::shared_ptr<EventMailbox>>& flush) {
  absl::MutexLock lock(&mu_);
  Posted posted = Posted::kKept;
  if (event.type == SessionEvent::Type::kReleaseRequested) {
    // The holder has not yet processed a request for this grant.
    if (release_asked_.contains({event.key, event.token})) {
      return Posted::kDropped;
    }
    if (Counted() >= capacity_) return Posted::kDropped;  // Advisory.
    release_asked_.insert({event.key, event.token});
  } else if (event.type == SessionEvent::Type::kGrantRevoked &&
             Counted() >= capacity_) {
    // Kept all the same: a revocation is never dropped; the session ends.
    posted = overflowed_ ? Posted::kKept : Posted::kOverflow;
    overflowed_ = true;
  }
  event.sequence = ++last_sequence_;
  Transition t;
  t.type = TransitionType::kEventPosted;
  t.session_id = event.session_id;
  t.key = event.key;
  t.token = event.token;
  t.event_sequence = event.sequence;
  t.event_type = static_cast<uint8_t>(event.type);
  t.text = event.reason;
  t.requester_session_id = event.requester_session_id;
  t.requester_client_name = event.requester_client_name;
  // The backlog overflowed: the session is about to end (restore ends it).
  if (posted == Posted::kOverflow) t.reason = EndReason::kOverflowed;
  event.lsn = log_->Append(t);
  pending_.push_back(std::move(event));
  if (sink_ != nullptr) flush.push_back(shared_from_this());
  return posted;
}

std::shared_ptr<SessionEventSink> EventMailbox::Attach(
    std::shared_ptr<SessionEventSink> sink) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<SessionEventSink> old = std::move(sink_);
  sink_ = std::move(sink);
  sent_through_ = acked_;  // A new stream is sent everything unacknowledged.
  return old;
}

bool EventMailbox::HasSink() {
  absl::MutexLock lock(&mu_);
  return sink_ != nullptr;
}

std::shared_ptr<SessionEventSink> EventMailbox::Detach(
    const SessionEventSink* sink) {
  absl::MutexLock lock(&mu_);
  if (sink_.get() != sink) return nullptr;
  return std::move(sink_);
}

std::shared_ptr<SessionEventSink> EventMailbox::TakeSink() {
  absl::MutexLock lock(&mu_);
  return std::move(sink_);
}

void EventMailbox::Ack(uint64_t sequence) {
  absl::MutexLock lock(&mu_);
  // Only events some stream was sent can have been processed.
  sequence = std::min(sequence, handed_through_);
  while (!pending_.empty() && pending_.front().sequence <= sequence) {
    const SessionEvent& e = pending_.front();
    if (e.type == SessionEvent::Type::kReleaseRequested) {
      release_asked_.erase({e.key, e.token});  // A later request asks again.
    }
    pending_.pop_front();
    if (restored_ > 0) --restored_;
  }
  acked_ = std::max(acked_, sequence);
  sent_through_ = std::max(sent_through_, acked_);
}

void EventMailbox::Flush() {
  {
    absl::MutexLock lock(&mu_);
    if (flushing_) return;  // That thread sends ours too, in order.
    flushing_ = true;
  }
  std::shared_ptr<SessionEventSink> sink;
  std::vector<SessionEvent> batch;
  bool broke = false;
  while (true) {
    std::shared_ptr<SessionEventSink> detached;  // Destroyed unlocked.
    {
      absl::MutexLock lock(&mu_);
      // A sink whose stream is ending is detached; its events stay.
      if (broke && sink_ == sink) detached = std::move(sink_);
      broke = false;
      batch.clear();
      if (sink_ == nullptr || sent_through_ >= last_sequence_) {
        flushing_ = false;
        return;
      }
      sink = sink_;
      // pending_ holds acked_ + 1 .. last_sequence_; acked_ <= sent_through_.
      // An event whose record is not durable yet waits, and so do the ones
      // after it: the Flush of the command that posted it sends them.
      for (size_t i = sent_through_ - acked_; i < pending_.size(); ++i) {
        if (!log_->IsDurable(pending_[i].lsn)) break;
        batch.push_back(pending_[i]);
      }
      if (batch.empty()) {
        flushing_ = false;
        return;
      }
      sent_through_ = batch.back().sequence;
      handed_through_ = std::max(handed_through_, sent_through_);
    }
    for (const SessionEvent& e : batch) {
      if (!sink->Deliver(e)) {
        broke = true;
        break;
      }
    }
  }
}

void EventMailbox::Restore(std::vector<SessionEvent> events,
                           uint64_t last_sequence) {
  absl::MutexLock lock(&mu_);
  pending_.clear();
  release_asked_.clear();
  // The client may have acknowledged any of them already (acks are not
  // recorded): they count against nothing — neither the capacity (a full
  // restored backlog must not end the session at the first new event) nor
  // the release-request dedupe (a new request for the same grant is sent).
  for (SessionEvent& e : events) pending_.push_back(std::move(e));
  restored_ = pending_.size();
  last_sequence_ = last_sequence;
  acked_ = pending_.empty() ? last_sequence : pending_.front().sequence - 1;
  sent_through_ = acked_;
  // The client may have been sent (and processed) any of them: its ack on
  // its next stream is believed up to the last.
  handed_through_ = last_sequence;
}

std::vector<SessionEvent> EventMailbox::PendingEvents() {
  absl::MutexLock lock(&mu_);
  return std::vector<SessionEvent>(pending_.begin(), pending_.end());
}

bool EventMailbox::overflowed() {
  absl::MutexLock lock(&mu_);
  return overflowed_;
}

uint64_t EventMailbox::last_sequence() {
  absl::MutexLock lock(&mu_);
  return last_sequence_;
}

size_t EventMailbox::pending() {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

}  // namespace table_internal
}  // namespace taala
