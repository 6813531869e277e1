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
    if (pending_.size() >= capacity_) return Posted::kDropped;  // Advisory.
    release_asked_.insert({event.key, event.token});
  } else if (event.type == SessionEvent::Type::kGrantRevoked &&
             pending_.size() >= capacity_) {
    // Kept all the same: a revocation is never dropped; the session ends.
    posted = overflowed_ ? Posted::kKept : Posted::kOverflow;
    overflowed_ = true;
  }
  event.sequence = ++last_sequence_;
  pending_.push_back(std::move(event));
  if (sink_ != nullptr) flush.push_back(shared_from_this());
  return posted;
}

void EventMailbox::Attach(std::shared_ptr<SessionEventSink> sink) {
  absl::MutexLock lock(&mu_);
  sink_ = std::move(sink);
  sent_through_ = acked_;  // A new stream is sent everything unacknowledged.
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
      for (size_t i = sent_through_ - acked_; i < pending_.size(); ++i) {
        batch.push_back(pending_[i]);
      }
      sent_through_ = last_sequence_;
      handed_through_ = std::max(handed_through_, last_sequence_);
    }
    for (const SessionEvent& e : batch) {
      if (!sink->Deliver(e)) {
        broke = true;
        break;
      }
    }
  }
}

size_t EventMailbox::pending() {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

}  // namespace table_internal
}  // namespace taala
