#include "server/core/effects.h"

#include <optional>
#include <utility>


namespace taala {
namespace table_internal {

void EffectsRunner::Run(Effects& effects, absl::Time now) {
  for (const Effects::Recheck& r : effects.recheck) {
    std::vector<WaitForGraph::Step> cycle =
        graph_->CycleThrough(r.session_id, r.key, r.seq);
    if (cycle.empty()) continue;
    Effects more;
    host_->AbortWaitInto(r.session_id, r.key, r.seq, DeadlockMessage(cycle),
                         now, more);
    Run(more, now);
  }
  effects.recheck.clear();
  if (observer_ != nullptr) {
    for (const auto& e : effects.expired) {
      observer_->OnSessionExpired(e.session_id, e.client_name,
                                  e.result.released, e.result.cancelled_waits);
    }
    for (const auto& r : effects.revoked) {
      observer_->OnGrantRevoked(r.grant, r.reason);
    }
  }
  for (auto& [sink, event] : effects.events) {
    if (!sink->Deliver(event)) {
      Redeliver(event.session_id, sink.get(), std::move(event));
    }
  }
  for (Effects::Completion& c : effects.completions) {
    std::optional<ReleaseCmd> undo;
    if (c.result.ok() && c.result->acquired) {
      undo = ReleaseCmd{c.result->grant.session_id, c.result->grant.key,
                        c.result->grant.token, now};
    }
    // After Complete the waiter may be gone: do not touch c.waiter again.
    const bool delivered = c.waiter->Complete(std::move(c.result));
    if (!delivered && undo.has_value()) {
      // The caller left between the grant and its delivery: no grant is
      // kept for a waiter that has gone.
      Effects more;
      host_->ReleaseUndeliveredInto(*undo, more);
      Run(more, now);
    }
  }
}

void EffectsRunner::Redeliver(uint64_t session_id,
                              const SessionEventSink* sink,
                              SessionEvent event) {
  std::shared_ptr<Session> session = sessions_->Find(session_id);
  if (session == nullptr) return;  // Ended: nobody to tell.
  Session& s = *session;
  std::shared_ptr<SessionEventSink> detached;  // Destroyed outside the mutex.
  std::shared_ptr<SessionEventSink> current;
  {
    absl::MutexLock lock(&s.mu);
    if (s.ended) return;
    current = s.mailbox.Bounce(sink, event, &detached);
    if (current == nullptr) return;  // Kept for the next stream.
  }
  // A newer stream took over meanwhile: it gets the event now. Each failed
  // sink is detached, so this ends.
  if (!current->Deliver(event)) {
    Redeliver(session_id, current.get(), std::move(event));
  }
}

}  // namespace table_internal
}  // namespace taala
