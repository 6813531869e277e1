#include "server/core/table_stats.h"

#include <algorithm>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/match.h"
#include "server/core/key.h"

namespace taala {
namespace {

// Whether a record is one acquire call (the top-K's unit of weight): a
// grant made at once, a call that joined a queue, or one refused at once.
bool IsAcquireCall(const Transition& t) {
  return (t.type == TransitionType::kGrantMade && !t.after_wait) ||
         t.type == TransitionType::kWaitStarted ||
         t.type == TransitionType::kAcquireRefused;
}

// Seconds as a double, without absl's exact (and slower) division.
double Seconds(absl::Duration d) {
  return static_cast<double>(absl::ToInt64Nanoseconds(d)) * 1e-9;
}

int64_t SlotOf(absl::Time wall) {
  const int64_t s = absl::ToUnixSeconds(wall);
  return s >= 0 ? s / Figures::kSlotSeconds
                : -((-s + Figures::kSlotSeconds - 1) / Figures::kSlotSeconds);
}

size_t SlotIndex(int64_t slot) {
  return static_cast<size_t>(((slot % Figures::kWindowSlots) +
                              Figures::kWindowSlots) %
                             Figures::kWindowSlots);
}

}  // namespace

void FixedHistogram::Add(double seconds) {
  const auto it = std::lower_bound(kHistogramBounds.begin(),
                                   kHistogramBounds.end(), seconds);
  ++counts[static_cast<size_t>(it - kHistogramBounds.begin())];
  ++count;
  sum += seconds;
}

void FixedHistogram::Merge(const FixedHistogram& other) {
  for (size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
  count += other.count;
  sum += other.sum;
}

void AcquireCounts::Count(AcquireOutcome outcome, bool after_wait) {
  switch (outcome) {
    case AcquireOutcome::kAcquired:
      ++acquired;
      if (after_wait) ++acquired_after_wait;
      break;
    case AcquireOutcome::kTimedOut:
      ++timed_out;
      break;
    case AcquireOutcome::kCancelled:
      ++cancelled;
      break;
    case AcquireOutcome::kDeadlock:
      ++deadlock;
      break;
    case AcquireOutcome::kFailed:
      ++failed;
      break;
  }
}

void AcquireCounts::Undo(bool after_wait) {
  // Guarded: a tracked key's figures may have started after the grant.
  if (acquired > 0) --acquired;
  if (after_wait && acquired_after_wait > 0) --acquired_after_wait;
  ++cancelled;
}

void AcquireCounts::Merge(const AcquireCounts& o) {
  acquired += o.acquired;
  acquired_after_wait += o.acquired_after_wait;
  timed_out += o.timed_out;
  cancelled += o.cancelled;
  deadlock += o.deadlock;
  failed += o.failed;
}

bool AcquireCounts::operator==(const AcquireCounts& o) const {
  return acquired == o.acquired &&
         acquired_after_wait == o.acquired_after_wait &&
         timed_out == o.timed_out && cancelled == o.cancelled &&
         deadlock == o.deadlock && failed == o.failed;
}

void Figures::Observe(const Transition& t) {
  switch (t.type) {
    case TransitionType::kGrantMade:
      if (!t.after_wait) acquires.Count(AcquireOutcome::kAcquired, false);
      break;
    case TransitionType::kAcquireRefused:
      acquires.Count(t.outcome, false);
      break;
    case TransitionType::kWaitEnded: {
      acquires.Count(t.outcome, /*after_wait=*/true);
      if (!t.wait_sample) break;
      const double seconds = Seconds(t.waited);
      wait.Add(seconds);
      const int64_t at = SlotOf(t.wall);
      Slot& slot = window[SlotIndex(at)];
      if (slot.slot != at) slot = Slot{at, 0, 0};
      slot.wait_seconds += seconds;
      ++slot.waits;
      break;
    }
    case TransitionType::kGrantEnded:
      if (t.never_held) break;
      if (t.reason != EndReason::kUndone) {
        hold.Add(Seconds(t.held));
      } else {
        acquires.Undo(t.after_wait);
      }
      // A force-release is a revocation; the grants of a revoked session
      // end as its expiry would end them, and count as expiries.
      if (t.reason == EndReason::kRevoked ||
          t.reason == EndReason::kForceReleased) {
        ++revocations;
      }
      if (t.reason == EndReason::kExpired ||
          t.reason == EndReason::kOverflowed ||
          t.reason == EndReason::kSessionRevoked) {
        ++expiries;
      }
      break;
    case TransitionType::kDeadlockRefused:
      ++deadlocks;
      break;
    case TransitionType::kGrantRestored:
      acquires.Undo(t.after_wait);
      break;
    default:
      break;
  }
}

void Figures::Merge(const Figures& o) {
  acquires.Merge(o.acquires);
  wait.Merge(o.wait);
  hold.Merge(o.hold);
  revocations += o.revocations;
  expiries += o.expiries;
  deadlocks += o.deadlocks;
  for (const Slot& s : o.window) {
    if (s.slot < 0) continue;
    Slot& mine = window[SlotIndex(s.slot)];
    if (mine.slot < s.slot) mine = Slot{s.slot, 0, 0};
    if (mine.slot != s.slot) continue;  // Older than ours: outside.
    mine.wait_seconds += s.wait_seconds;
    mine.waits += s.waits;
  }
}

void Figures::WindowAt(absl::Time now, double* wait_seconds,
                       uint64_t* waits) const {
  const int64_t current = SlotOf(now);
  *wait_seconds = 0;
  *waits = 0;
  for (const Slot& s : window) {
    // The oldest slot summed starts kWindow + (now's offset in its own
    // slot) before now: it may hold waits up to kSlotSeconds older than
    // kWindow, but every wait of the last kWindow is in.
    if (s.slot < 0 || s.slot > current ||
        s.slot <= current - kWindowSlots) {
      continue;
    }
    *wait_seconds += s.wait_seconds;
    *waits += s.waits;
  }
}

KeyTopK::Stripe& KeyTopK::StripeOf(absl::string_view key) {
  return stripes_[absl::Hash<absl::string_view>{}(key) % kStripes];
}

void KeyTopK::Observe(const Transition& t) {
  Stripe& s = StripeOf(t.key);
  absl::MutexLock lock(&s.mu);
  Entry* e = IsAcquireCall(t) ? &s.top.Count(t.key, t.wall) : s.top.Find(t.key);
  if (e != nullptr) e->figures.Observe(t);
}

bool KeyTopK::Lookup(absl::string_view key, Entry* out) {
  Stripe& s = StripeOf(key);
  absl::MutexLock lock(&s.mu);
  const Entry* e = s.top.Find(key);
  if (e == nullptr) return false;
  out->name = e->name;
  out->count = e->count;
  out->error = e->error;
  out->since = e->since;
  out->figures = e->figures;
  return true;
}

TableStats::TableStats(std::vector<std::string> prefixes, size_t shards)
    : prefixes_(std::move(prefixes)),
      segment_capacity_(std::max<size_t>(8, kSegmentsTotal /
                                                std::max<size_t>(1, shards))) {}

std::unique_ptr<ShardStats> TableStats::NewShardStats() const {
  return std::make_unique<ShardStats>(segment_capacity_, prefixes_.size());
}

int TableStats::PrefixOf(absl::string_view key) const {
  int best = -1;
  for (size_t i = 0; i < prefixes_.size(); ++i) {
    if (absl::StartsWith(key, prefixes_[i]) &&
        (best < 0 || prefixes_[i].size() > prefixes_[best].size())) {
      best = static_cast<int>(i);
    }
  }
  return best;
}

void TableStats::Observe(ShardStats& shard, const Transition& t) {
  switch (t.type) {
    case TransitionType::kGrantMade:
      if (!t.upgrade) ++shard.held;  // An upgrade replaces a grant.
      if (!t.after_wait) {
        shard.acquires.Count(AcquireOutcome::kAcquired, false);
      }
      break;
    case TransitionType::kGrantEnded:
      if (t.never_held) break;
      --shard.held;
      if (t.reason != EndReason::kUndone) {
        shard.hold_histogram.Add(Seconds(t.held));
      } else {
        shard.acquires.Undo(t.after_wait);
      }
      if (t.reason == EndReason::kReleased || t.reason == EndReason::kClosed) {
        ++shard.releases;
      } else if (t.reason == EndReason::kRevoked ||
                 t.reason == EndReason::kForceReleased) {
        ++shard.revocations;
      } else if (t.reason == EndReason::kExpired ||
                 t.reason == EndReason::kOverflowed ||
                 t.reason == EndReason::kSessionRevoked) {
        ++shard.grants_expired;
      }
      break;
    case TransitionType::kWaitStarted:
      ++shard.waiters;
      break;
    case TransitionType::kGrantRestored:  // An upgrade undone.
      shard.acquires.Undo(t.after_wait);
      break;
    case TransitionType::kWaitEnded:
      --shard.waiters;
      shard.acquires.Count(t.outcome, /*after_wait=*/true);
      if (t.wait_sample) shard.wait_histogram.Add(Seconds(t.waited));
      break;
    case TransitionType::kAcquireRefused:
      shard.acquires.Count(t.outcome, false);
      break;
    case TransitionType::kDeadlockRefused: {
      ++shard.deadlock_refusals;
      absl::MutexLock lock(&deadlocks_mu_);
      ++deadlocks_total_;
      deadlocks_.push_front(DeadlockRecord{t.wall, t.session_id,
                                           t.client_name, t.key, t.cycle,
                                           t.text});
      if (deadlocks_.size() > kRecentDeadlocks) deadlocks_.pop_back();
      break;
    }
    default:
      return;  // Lock-delays, events: no figures.
  }
  shard.all.Observe(t);
  // A segment's figures are its tree below the root: the keys that start
  // with "seg/", as GetLockStats(prefix "seg/") and ListLocks mean it. The
  // root key "seg" itself is not in them (it is a key of its own).
  if (t.key.size() > FirstSegment(t.key).size()) {
    const absl::string_view segment = FirstSegment(t.key);
    SpaceSaving<Figures>::Entry* seg =
        IsAcquireCall(t) ? &shard.segments.Count(segment, t.wall)
                         : shard.segments.Find(segment);
    if (seg != nullptr) seg->figures.Observe(t);
  }
  if (!prefixes_.empty()) {
    const int p = PrefixOf(t.key);
    if (p >= 0) {
      std::unique_ptr<Figures>& f = shard.prefixes[static_cast<size_t>(p)];
      if (f == nullptr) f = std::make_unique<Figures>();
      f->Observe(t);
    }
  }
  keys_.Observe(t);
}

void TableStats::ObserveSession(const Transition& t) {
  if (t.type == TransitionType::kSessionCreated) {
    sessions_created_.fetch_add(1, std::memory_order_relaxed);
  } else if (t.type == TransitionType::kSessionEnded &&
             (t.reason == EndReason::kExpired ||
              t.reason == EndReason::kOverflowed ||
              t.reason == EndReason::kSessionRevoked)) {
    sessions_expired_.fetch_add(1, std::memory_order_relaxed);
  }
}

std::vector<DeadlockRecord> TableStats::RecentDeadlocks(size_t limit,
                                                        uint64_t* total) {
  absl::MutexLock lock(&deadlocks_mu_);
  *total = deadlocks_total_;
  const size_t n = std::min(limit, deadlocks_.size());
  return std::vector<DeadlockRecord>(deadlocks_.begin(),
                                     deadlocks_.begin() + static_cast<long>(n));
}

}  // namespace taala
