#ifndef TAALA_SERVER_CORE_TABLE_STATS_H_
#define TAALA_SERVER_CORE_TABLE_STATS_H_

// The table's statistics, fed by the stream of transition records (logged
// and observer-only ones, transition.h) that every shard funnels through
// Shard::RecordLocked. Nothing here grows with the number of distinct keys:
//  - per shard (ShardStats, guarded by Shard::mu): counters, gauges, fixed
//    Prometheus histograms of wait and hold times, quantile sketches of
//    every key's waits and holds, a space-saving top-K of first segments,
//    and the figures of each configured prefix;
//  - per table (TableStats): a space-saving top-K of full keys in 16
//    stripes by the key's hash, each with its own leaf mutex (taken under a
//    shard mutex: Shard::mu -> KeyTopK stripe), so that hot keys under one
//    first segment are tracked as well as keys spread over every shard; the
//    ring of recent deadlock refusals (leaf mutex); session counters
//    (relaxed atomics).
//
// Thread safety: see each class.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/quantile_sketch.h"
#include "server/core/space_saving.h"
#include "server/core/transition.h"

namespace taala {

// Upper bounds (seconds) of the wait and hold histograms' buckets.
inline constexpr std::array<double, 18> kHistogramBounds = {
    .001, .005, .01, .025, .05, .1, .25, .5, 1,
    2.5,  5,    10,  30,   60,  300, 600, 1800, 3600};

// A fixed-bucket histogram: counts[i] values were <= kHistogramBounds[i]
// and above the bound before (not cumulative); the last count is above
// every bound.
struct FixedHistogram {
  std::array<uint64_t, kHistogramBounds.size() + 1> counts{};
  uint64_t count = 0;
  double sum = 0;
  void Add(double seconds);
  void Merge(const FixedHistogram& other);
};

// Acquire calls by how they ended (proto AcquireOutcomes).
struct AcquireCounts {
  uint64_t acquired = 0;
  uint64_t acquired_after_wait = 0;
  uint64_t timed_out = 0;
  uint64_t cancelled = 0;
  uint64_t deadlock = 0;
  uint64_t failed = 0;
  void Count(AcquireOutcome outcome, bool after_wait);
  // A grant its caller never learnt of was undone (kUndone, or an upgrade
  // undone: kGrantRestored): its call, counted acquired, was cancelled.
  void Undo(bool after_wait);
  void Merge(const AcquireCounts& other);
  bool operator==(const AcquireCounts& o) const;
};

// The figures of one key, first segment or prefix (or every key).
struct Figures {
  // The recent window (GetContention): waits ended in the last kWindow, in
  // kSlot slots. WindowAt sums the slot of `now` and the ones before it
  // that start less than kWindow + kSlot ago, so every wait that ended in
  // the last kWindow is in (and one that ended up to kSlot before that may
  // be): the window spans kWindow to kWindow + kSlot, never less.
  static constexpr int64_t kWindowSeconds = 300;
  static constexpr absl::Duration kWindow = absl::Seconds(kWindowSeconds);
  static constexpr int64_t kSlotSeconds = 10;
  // The whole slots of kWindow, and the current (partial) one.
  static constexpr int kWindowSlots =
      static_cast<int>(kWindowSeconds / kSlotSeconds) + 1;
  AcquireCounts acquires;
  QuantileSketch wait;  // Seconds waited by calls that waited.
  QuantileSketch hold;  // Seconds grants were held (undone ones aside).
  uint64_t revocations = 0;
  uint64_t expiries = 0;
  uint64_t deadlocks = 0;
  // Waits ended per kSlotSeconds of wall time (slot: Unix seconds /
  // kSlotSeconds), over the last kWindowSlots.
  struct Slot {
    int64_t slot = -1;
    double wait_seconds = 0;
    uint64_t waits = 0;
  };
  std::array<Slot, kWindowSlots> window;

  void Observe(const Transition& t);
  void Merge(const Figures& other);
  // Totals of the window's slots up to the one of `now` (wall time).
  void WindowAt(absl::Time now, double* wait_seconds, uint64_t* waits) const;
};

// Figures of the whole table, from one shard (guarded by its Shard::mu).
struct ShardStats {
  explicit ShardStats(size_t segment_capacity, size_t prefixes)
      : segments(segment_capacity), prefixes(prefixes) {}
  AcquireCounts acquires;
  uint64_t releases = 0;  // Released or closed.
  uint64_t revocations = 0;
  uint64_t grants_expired = 0;  // By session expiry (or overflow).
  uint64_t deadlock_refusals = 0;
  int64_t held = 0;     // Grants held now.
  int64_t waiters = 0;  // Calls queued now.
  FixedHistogram wait_histogram;
  FixedHistogram hold_histogram;
  Figures all;  // Every key of the shard (sketches for "all").
  SpaceSaving<Figures> segments;
  // One per configured prefix (TableStats::prefixes()), made on first use.
  std::vector<std::unique_ptr<Figures>> prefixes;
};

// A deadlock refusal, as GetRecentDeadlocks reports it.
struct DeadlockRecord {
  absl::Time at;  // Wall-clock time.
  uint64_t session_id = 0;
  std::string client_name;
  std::string key;
  std::vector<WaitForGraph::Step> cycle;
  std::string message;
};

// The top-K of full keys: kStripes space-saving sketches of kPerStripe
// entries each, by the key's hash. Each stripe's mutex is a leaf, taken
// under the key's shard mutex.
class KeyTopK {
 public:
  static constexpr size_t kStripes = 16;
  static constexpr size_t kPerStripe = 64;
  using Entry = SpaceSaving<Figures>::Entry;

  void Observe(const Transition& t);
  // Calls fn(const Entry&) for every tracked key, one stripe at a time
  // (fn runs under the stripe's mutex: it must only copy).
  template <typename Fn>
  void ForEach(Fn fn) {
    for (Stripe& s : stripes_) {
      absl::MutexLock lock(&s.mu);
      for (const Entry& e : s.top.entries()) fn(e);
    }
  }
  // Copies the entry of `key` into *out; false if it is not tracked.
  bool Lookup(absl::string_view key, Entry* out);

 private:
  struct Stripe {
    absl::Mutex mu;
    SpaceSaving<Figures> top ABSL_GUARDED_BY(mu){kPerStripe};
  };
  Stripe& StripeOf(absl::string_view key);
  std::array<Stripe, kStripes> stripes_;
};

// Thread safety: Observe is called under the record's shard mutex with
// that shard's ShardStats; the rest may be called from any thread.
class TableStats {
 public:
  static constexpr size_t kRecentDeadlocks = 100;
  static constexpr size_t kSegmentsTotal = 1024;

  TableStats(std::vector<std::string> prefixes, size_t shards);

  std::unique_ptr<ShardStats> NewShardStats() const;
  // One record of a shard (REQUIRES: that shard's mutex, `shard` its own).
  void Observe(ShardStats& shard, const Transition& t);
  // A session record (kSessionCreated, kSessionEnded); any thread.
  void ObserveSession(const Transition& t);

  const std::vector<std::string>& prefixes() const { return prefixes_; }
  // The index of the longest configured prefix of `key`, or -1.
  int PrefixOf(absl::string_view key) const;

  KeyTopK& keys() { return keys_; }
  uint64_t sessions_created() const { return sessions_created_.load(); }
  uint64_t sessions_expired() const { return sessions_expired_.load(); }
  // Newest first, at most `limit`; `total` since start.
  std::vector<DeadlockRecord> RecentDeadlocks(size_t limit, uint64_t* total)
      ABSL_LOCKS_EXCLUDED(deadlocks_mu_);

 private:
  const std::vector<std::string> prefixes_;
  const size_t segment_capacity_;
  KeyTopK keys_;
  std::atomic<uint64_t> sessions_created_{0};
  std::atomic<uint64_t> sessions_expired_{0};
  absl::Mutex deadlocks_mu_;  // Leaf.
  std::deque<DeadlockRecord> deadlocks_ ABSL_GUARDED_BY(deadlocks_mu_);
  uint64_t deadlocks_total_ ABSL_GUARDED_BY(deadlocks_mu_) = 0;
};

}  // namespace taala

#endif  // TAALA_SERVER_CORE_TABLE_STATS_H_
