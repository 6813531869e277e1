#include "server/core/stats_queries.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/core/key.h"
#include "server/core/shard.h"
#include "server/core/top_n.h"

namespace taala {
namespace table_internal {
namespace {

// "12m3s", "480ms": durations as the reasons show them.
std::string Short(absl::Duration d) {
  if (d < absl::Seconds(1)) {
    return absl::StrCat(absl::ToInt64Milliseconds(d), "ms");
  }
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(100)));
}

Suggestion Suggest(const QuantileSketch& sketch, double q, const char* what,
                   absl::Duration low, const char* source) {
  Suggestion s;
  s.samples = sketch.count();
  if (s.samples < kMinSuggestionSamples) {
    s.reason = absl::StrCat("only ", s.samples, " ", what, " sample",
                            s.samples == 1 ? "" : "s", "; ",
                            kMinSuggestionSamples, " needed");
    return s;
  }
  s.available = true;
  s.source = source;
  const absl::Duration raw = absl::Seconds(sketch.Quantile(q) * 1.5);
  s.value = std::clamp(absl::Milliseconds(std::round(absl::ToDoubleMilliseconds(raw))), low,
                       absl::Hours(1));
  return s;
}

void CopyEntry(const KeyTopK::Entry& e, LockStats* out) {
  out->figures = e.figures;
  out->tracked_since = e.since;
  out->error_bound = e.error;
}

}  // namespace

Suggestion SuggestMaxHold(const Figures& f) {
  return Suggest(f.hold, 0.95, "hold", absl::Milliseconds(100),
                 "p95 hold x 1.5, clamped to [100ms, 1h]");
}

Suggestion SuggestWaitTimeout(const Figures& f) {
  return Suggest(f.wait, 0.99, "wait", absl::Milliseconds(100),
                 "p99 wait x 1.5, clamped to [100ms, 1h]");
}

LockStats LockStatsIn(TableStats* stats, const std::vector<Shard*>& shards,
                      const std::function<Shard&(absl::string_view)>& shard_for,
                      absl::string_view key, absl::string_view prefix) {
  LockStats out;
  out.scope = std::string(!key.empty() ? key : prefix);
  if (stats == nullptr) {
    out.source = "disabled";
    out.max_hold.reason = out.wait_timeout.reason =
        "statistics are off (taalad --stats=false)";
    return out;
  }
  if (!key.empty()) {
    KeyTopK::Entry e;
    if (stats->keys().Lookup(key, &e)) {
      out.source = "key";
      CopyEntry(e, &out);
    } else {
      out.source = "untracked";
    }
  } else if (prefix.empty()) {
    out.source = "all";
    for (Shard* shard : shards) {
      absl::MutexLock lock(&shard->mu);
      out.figures.Merge(shard->stats->all);
    }
  } else {
    // A configured prefix has figures of its own; else a prefix that is
    // exactly a first segment and '/' is that segment's tree; else the
    // tracked keys under it, summed.
    const std::vector<std::string>& configured = stats->prefixes();
    auto it = std::find(configured.begin(), configured.end(), prefix);
    const size_t slash = prefix.find('/');
    if (it != configured.end()) {
      out.source = "prefix";
      const size_t index = static_cast<size_t>(it - configured.begin());
      for (Shard* shard : shards) {
        absl::MutexLock lock(&shard->mu);
        if (shard->stats->prefixes[index] != nullptr) {
          out.figures.Merge(*shard->stats->prefixes[index]);
        }
      }
    } else if (slash == prefix.size() - 1) {
      Shard& shard = shard_for(prefix);
      absl::MutexLock lock(&shard.mu);
      const SpaceSaving<Figures>::Entry* e =
          shard.stats->segments.Find(prefix.substr(0, slash));
      if (e != nullptr) {
        out.source = "segment";
        out.figures = e->figures;
        out.tracked_since = e->since;
        out.error_bound = e->error;
      }
    }
    if (out.source.empty()) {
      // The tracked keys under it, summed.
      out.source = "prefix";
      stats->keys().ForEach([&](const KeyTopK::Entry& e) {
        if (!absl::StartsWith(e.name, prefix)) return;
        out.figures.Merge(e.figures);
        out.error_bound += e.error;
        out.tracked_since = out.keys == 0
                                ? e.since
                                : std::min(out.tracked_since, e.since);
        ++out.keys;
      });
    }
  }
  out.max_hold = SuggestMaxHold(out.figures);
  out.wait_timeout = SuggestWaitTimeout(out.figures);
  return out;
}

LeakReport LeakSuspectsIn(TableStats* stats, const std::vector<Shard*>& shards,
                          absl::Duration threshold, double p99_factor,
                          size_t limit, absl::Time now) {
  LeakReport report;
  report.threshold = threshold;
  report.p99_factor = p99_factor;
  // The p99 holds of tracked keys with enough samples, copied first: no
  // stripe mutex is taken while a shard's is held here.
  absl::flat_hash_map<std::string, absl::Duration> p99;
  if (stats != nullptr) {
    stats->keys().ForEach([&](const KeyTopK::Entry& e) {
      if (e.figures.hold.count() >= kMinSuggestionSamples) {
        p99[e.name] = absl::Seconds(e.figures.hold.Quantile(0.99));
      }
    });
  }
  // The `limit` + 1 oldest suspects (one more tells whether more follow),
  // kept in a bounded max-heap while scanning: a key is copied only when
  // it enters the heap and a session's labels are kept as its shared map,
  // copied after the shard mutex is released. Memory is O(limit) and the
  // shard is held only for the walk, whatever the number of held keys.
  struct Candidate {
    Grant grant;
    std::string client_name;
    std::shared_ptr<const Labels> labels;
    std::string reason;
    absl::Duration key_p99_hold;
  };
  const size_t want = limit + 1;
  auto older = [](const Candidate& a, const Candidate& b) {
    return a.grant.granted_at < b.grant.granted_at ||
           (a.grant.granted_at == b.grant.granted_at &&
            a.grant.token < b.grant.token);
  };
  std::vector<Candidate> heap;  // Max-heap by `older`: the newest on top.
  heap.reserve(std::min<size_t>(want, 1024));
  size_t suspects = 0;
  for (Shard* shard : shards) {
    absl::MutexLock lock(&shard->mu);
    for (const auto& [key, state] : shard->keys) {
      for (const Holder& h : state.holders) {
        const absl::Duration age = now - h.granted_at;
        if (age <= threshold && p99.empty()) continue;  // The common case.
        auto known = p99.find(key);
        const absl::Duration key_p99 =
            known == p99.end() ? absl::ZeroDuration() : known->second;
        const bool over = age > threshold;
        if (!over &&
            !(key_p99 > absl::ZeroDuration() && p99_factor > 0 &&
              age > std::max(absl::Seconds(1), key_p99 * p99_factor))) {
          continue;
        }
        ++suspects;
        if (heap.size() == want) {
          const Candidate& newest = heap.front();
          if (!(h.granted_at < newest.grant.granted_at ||
                (h.granted_at == newest.grant.granted_at &&
                 h.token < newest.grant.token))) {
            continue;  // Newer than all kept: not among the oldest.
          }
          std::pop_heap(heap.begin(), heap.end(), older);
          heap.pop_back();
        }
        // A session's identity (id, name, labels) is constant: read
        // without its mutex.
        heap.push_back(Candidate{
            Grant{key, h.session->id, h.token, h.mode, h.granted_at,
                  h.revoke_at},
            h.session->client_name, h.session->labels,
            over ? absl::StrCat("held ", Short(age), " > threshold ",
                                Short(threshold))
                 : absl::StrCat("held ", Short(age), " > ", p99_factor,
                                " x p99 hold ", Short(key_p99)),
            key_p99});
        std::push_heap(heap.begin(), heap.end(), older);
      }
    }
  }
  std::sort_heap(heap.begin(), heap.end(), older);
  if (heap.size() > limit) heap.resize(limit);
  report.truncated = suspects > heap.size();
  report.suspects.reserve(heap.size());
  for (Candidate& c : heap) {
    report.suspects.push_back(LeakSuspectInfo{
        std::move(c.grant), std::move(c.client_name), *c.labels,
        std::move(c.reason), c.key_p99_hold});
  }
  return report;
}

ContentionReport ContentionIn(
    TableStats* stats, const std::vector<Shard*>& shards,
    const std::function<Shard&(absl::string_view)>& shard_for, size_t limit,
    absl::Time now, absl::Duration wall_offset) {
  ContentionReport report;
  report.window = Figures::kWindow;
  auto more_waiters = [](const ContendedKeyInfo& a, const ContendedKeyInfo& b) {
    return a.waiters > b.waiters || (a.waiters == b.waiters && a.key < b.key);
  };
  auto fill_now = [&](const KeyState& state, ContendedKeyInfo* c) {
    c->waiters = static_cast<uint32_t>(state.waiters.size());
    c->holders = static_cast<uint32_t>(state.holders.size());
    absl::Time first = now;
    for (const auto& [seq, w] : state.waiters) {
      first = std::min(first, w.enqueued_at);
    }
    c->longest_wait = now - first;
  };
  for (Shard* shard : shards) {
    std::vector<ContendedKeyInfo> batch;
    absl::MutexLock lock(&shard->mu);
    for (const std::string& key : shard->tree.waiting_keys()) {
      auto kit = shard->keys.find(key);
      if (kit == shard->keys.end() || kit->second.waiters.empty()) continue;
      ContendedKeyInfo c;
      c.key = key;
      fill_now(kit->second, &c);
      batch.push_back(std::move(c));
    }
    report.by_waiters.insert(report.by_waiters.end(), batch.begin(),
                             batch.end());
    KeepSmallest(report.by_waiters, limit, more_waiters);
  }
  std::sort(report.by_waiters.begin(), report.by_waiters.end(), more_waiters);
  if (stats == nullptr) return report;
  const absl::Time wall_now = now + wall_offset;
  absl::flat_hash_map<std::string, std::pair<double, uint64_t>> window;
  stats->keys().ForEach([&](const KeyTopK::Entry& e) {
    double seconds;
    uint64_t waits;
    e.figures.WindowAt(wall_now, &seconds, &waits);
    if (waits > 0) window[e.name] = {seconds, waits};
  });
  for (ContendedKeyInfo& c : report.by_waiters) {
    auto it = window.find(c.key);
    if (it == window.end()) continue;
    c.wait_seconds_in_window = it->second.first;
    c.waits_in_window = it->second.second;
  }
  for (const auto& [key, w] : window) {
    ContendedKeyInfo c;
    c.key = key;
    c.wait_seconds_in_window = w.first;
    c.waits_in_window = w.second;
    report.by_wait_time.push_back(std::move(c));
  }
  auto more_wait = [](const ContendedKeyInfo& a, const ContendedKeyInfo& b) {
    return a.wait_seconds_in_window > b.wait_seconds_in_window ||
           (a.wait_seconds_in_window == b.wait_seconds_in_window &&
            a.key < b.key);
  };
  KeepSmallest(report.by_wait_time, limit, more_wait);
  std::sort(report.by_wait_time.begin(), report.by_wait_time.end(), more_wait);
  for (ContendedKeyInfo& c : report.by_wait_time) {
    Shard& shard = shard_for(c.key);
    absl::MutexLock lock(&shard.mu);
    auto kit = shard.keys.find(c.key);
    if (kit != shard.keys.end()) fill_now(kit->second, &c);
  }
  return report;
}

TableMetrics MetricsIn(TableStats* stats, const std::vector<Shard*>& shards) {
  TableMetrics m;
  if (stats == nullptr) return m;
  m.enabled = true;
  int64_t held = 0;
  int64_t waiters = 0;
  for (Shard* shard : shards) {
    absl::MutexLock lock(&shard->mu);
    const ShardStats& s = *shard->stats;
    m.acquires.Merge(s.acquires);
    m.wait.Merge(s.wait_histogram);
    m.hold.Merge(s.hold_histogram);
    held += s.held;
    waiters += s.waiters;
    m.grants_expired += s.grants_expired;
    m.revocations += s.revocations;
    m.deadlock_refusals += s.deadlock_refusals;
    m.releases += s.releases;
  }
  m.held_locks = static_cast<uint64_t>(std::max<int64_t>(0, held));
  m.waiters = static_cast<uint64_t>(std::max<int64_t>(0, waiters));
  m.sessions_created = stats->sessions_created();
  m.sessions_expired = stats->sessions_expired();
  stats->keys().ForEach([&](const KeyTopK::Entry& e) {
    m.top_keys.push_back(
        TableMetrics::TopKey{e.name, e.count, e.figures.wait.sum()});
  });
  auto more = [](const TableMetrics::TopKey& a, const TableMetrics::TopKey& b) {
    return a.acquires > b.acquires || (a.acquires == b.acquires && a.key < b.key);
  };
  KeepSmallest(m.top_keys, kMetricsTopKeys, more);
  std::sort(m.top_keys.begin(), m.top_keys.end(), more);
  return m;
}

}  // namespace table_internal
}  // namespace taala
