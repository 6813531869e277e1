#include "server/core/event_mailbox.h"

#include <utility>

namespace taala {
namespace table_internal {

void EventMailbox::Post(SessionEvent event, std::vector<PendingEvent>& out) {
  absl::MutexLock lock(&mu_);
  if (sink_ != nullptr) {
    out.push_back(PendingEvent{sink_, std::move(event)});
    return;
  }
  KeepLocked(std::move(event));
}

std::deque<SessionEvent> EventMailbox::Attach(
    std::shared_ptr<SessionEventSink> sink) {
  std::deque<SessionEvent> backlog;
  absl::MutexLock lock(&mu_);
  sink_ = std::move(sink);
  backlog.swap(undelivered_);
  return backlog;
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

std::shared_ptr<SessionEventSink> EventMailbox::Bounce(
    const SessionEventSink* failed, SessionEvent& event,
    std::shared_ptr<SessionEventSink>* detached) {
  absl::MutexLock lock(&mu_);
  if (sink_.get() == failed) *detached = std::move(sink_);
  if (sink_ == nullptr) {
    KeepLocked(std::move(event));
    return nullptr;
  }
  return sink_;
}

void EventMailbox::KeepLocked(SessionEvent event) {
  undelivered_.push_back(std::move(event));
  while (undelivered_.size() > capacity_) undelivered_.pop_front();
}

}  // namespace table_internal
}  // namespace taala
