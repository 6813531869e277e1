#include "server/core/effects.h"

#include <optional>
#include <utility>

namespace taala {
namespace table_internal {

void EffectsRunner::Run(Effects& effects, absl::Time now) {
  if (effects.completions.empty() && effects.events.empty() &&
      effects.overflowed.empty() && effects.expired.empty() &&
      effects.revoked.empty() && effects.recheck.empty() &&
      effects.deadlocks.empty() && effects.slow_waits.empty()) {
    return;  // Nothing to make known (the common uncontended command).
  }
  // Through the log in every case, so that batches run in LSN order: the
  // log runs it here and now when nothing before it still waits.
  log_->WhenDurable(log_->LastLsn(),
                    [this, batch = std::move(effects), now]() mutable {
                      RunNow(batch, now);
                    });
  effects = Effects();
}

void EffectsRunner::RunNow(Effects& effects, absl::Time now) {
  for (const Effects::Recheck& r : effects.recheck) {
    std::vector<WaitForGraph::Step> cycle =
        graph_->CycleThrough(r.session_id, r.key, r.seq);
    if (cycle.empty()) continue;
    Effects more;
    host_->AbortWaitInto(r.session_id, r.key, r.seq, DeadlockMessage(cycle),
                         cycle, now, more);
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
    for (const auto& d : effects.deadlocks) {
      observer_->OnDeadlockRefused(d.session_id, d.client_name, d.key,
                                   d.message);
    }
    for (const auto& w : effects.slow_waits) {
      observer_->OnSlowWait(w.session_id, w.client_name, w.key, w.waited,
                            w.outcome);
    }
  }
  for (const auto& mailbox : effects.events) mailbox->Flush();
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
  for (uint64_t session_id : effects.overflowed) {
    Effects more;
    host_->EndOverflowedInto(session_id, now, more);
    Run(more, now);
  }
}

}  // namespace table_internal
}  // namespace taala
