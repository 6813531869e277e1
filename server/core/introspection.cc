#include "server/core/introspection.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/core/key.h"
#include "server/core/shard.h"
#include "server/core/top_n.h"

namespace taala {
namespace table_internal {
namespace {

HolderInfo ToHolderInfo(const std::string& key, const Holder& h) {
  // A session's id, name and labels are constant: no session mutex needed
  // (the labels' pointer is copied, not the map).
  return HolderInfo{
      Grant{key, h.session->id, h.token, h.mode, h.granted_at, h.revoke_at},
      h.session->client_name, h.session->labels};
}

// Whether `state` is a key a listing shows at all (not only intentions of
// keys below it) and passes `filter`; `held_before` is filter.now minus
// filter.held_longer_than.
bool Listed(const KeyState& st, const ListLocksFilter& filter,
            absl::Time held_before) {
  if (!st.in_use()) return false;  // Only intentions of keys below.
  if (filter.contended_only && st.waiters.empty()) return false;
  if (filter.held_longer_than > absl::ZeroDuration()) {
    // The oldest grant decides: any one held long enough.
    return std::any_of(
        st.holders.begin(), st.holders.end(),
        [&](const Holder& h) { return h.granted_at < held_before; });
  }
  return true;
}

// Describe's tree blockers of `key` (see LockDescription). Every grant
// conflicts with an EXCLUSIVE acquire, so every holder of an ancestor or of
// a key below is one.
void TreeBlockersLocked(const KeyMap& keys, const std::string& key,
                        LockDescription& d) {
  const auto ancestors = Ancestors(key);
  for (auto a = ancestors.rbegin(); a != ancestors.rend(); ++a) {
    auto it = keys.find(*a);
    if (it == keys.end()) continue;
    for (const Holder& h : it->second.holders) {
      if (Conflict(LockMode::kExclusive, h.mode)) {
        d.blocked_from_above.push_back(ToHolderInfo(it->first, h));
      }
    }
  }
  // A grant below leaves an intention on the key: without one, nothing
  // below is held and the shard need not be read.
  auto self = keys.find(key);
  if (self == keys.end() || self->second.below.empty()) return;
  using Entry = std::pair<const std::string, KeyState>;
  std::vector<const Entry*> below;
  for (const Entry& entry : keys) {
    if (!entry.second.holders.empty() && IsBelow(entry.first, key)) {
      below.push_back(&entry);
    }
  }
  auto by_key = [](const Entry* a, const Entry* b) {
    return a->first < b->first;
  };
  // Each key has a holder: the first kMaxBlockersBelow keys are enough.
  KeepSmallest(below, kMaxBlockersBelow, by_key);
  std::sort(below.begin(), below.end(), by_key);
  for (const Entry* entry : below) {
    for (const Holder& h : entry->second.holders) {
      if (d.blocked_from_below.size() == kMaxBlockersBelow) return;
      if (Conflict(LockMode::kExclusive, h.mode)) {
        d.blocked_from_below.push_back(ToHolderInfo(entry->first, h));
      }
    }
  }
}

}  // namespace

absl::StatusOr<Grant> CheckFenceIn(Shard& shard, absl::string_view key,
                                   uint64_t token) {
  absl::MutexLock lock(&shard.mu);
  auto kit = shard.keys.find(key);
  if (kit == shard.keys.end() || kit->second.holders.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("fencing token ", token, " is not current for key ",
                     Quote(key), ": the key is free"));
  }
  const KeyState& state = kit->second;
  for (const Holder& h : state.holders) {
    if (h.token == token) {
      return Grant{kit->first, h.session->id, h.token,
                   h.mode,     h.granted_at,  h.revoke_at};
    }
  }
  const Holder& current = state.holders.front();
  return absl::FailedPreconditionError(absl::StrCat(
      "fencing token ", token, " is not current for key ", Quote(key),
      ": the current token is ", current.token, " (session ",
      current.session->id, ")"));
}

LockDescription DescribeIn(Shard& shard, absl::string_view key,
                           size_t max_waiters) {
  LockDescription d;
  d.key = std::string(key);
  absl::MutexLock lock(&shard.mu);
  // A tree's keys share the shard: its mutex covers the blockers too.
  TreeBlockersLocked(shard.keys, d.key, d);
  auto kit = shard.keys.find(key);
  if (kit == shard.keys.end()) return d;
  const KeyState& state = kit->second;
  d.semaphore_size = state.limit;
  d.delayed_until = state.delayed_until;
  for (const Holder& h : state.holders) {
    d.holders.push_back(ToHolderInfo(d.key, h));
  }
  d.waiter_count = state.waiters.size();
  for (const auto& [seq, w] : state.waiters) {
    if (d.waiters.size() >= max_waiters) break;
    d.waiters.push_back(WaiterInfo{w.session->id, w.session->client_name,
                                   w.mode, w.enqueued_at, w.deadline});
  }
  return d;
}

absl::Status ValidateListArgs(absl::string_view prefix, absl::string_view after,
                              const ListLocksFilter& filter, size_t max_bytes) {
  if (filter.held_longer_than < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("held_longer_than_ms: must not be negative (got ",
                     absl::ToInt64Milliseconds(filter.held_longer_than), ")"));
  }
  for (const auto& [field, value] :
       {std::pair<const char*, absl::string_view>{"prefix", prefix},
        std::pair<const char*, absl::string_view>{"page_token", after}}) {
    // No key holds a control character: such a prefix matches nothing
    // and would only carry it into logs and terminals.
    if (absl::Status s = ValidateKeyPrefix(field, value, max_bytes);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

LockPage ListLocksIn(const std::vector<Shard*>& shards,
                     absl::string_view prefix, absl::string_view after,
                     size_t limit, const ListLocksFilter& filter) {
  LockPage page;
  if (limit == 0) return page;
  const absl::Time held_before = filter.now - filter.held_longer_than;
  // Every shard's keys after `after` are all read, and the filter applies
  // as they are read: a page holds the first `limit` MATCHING keys, never
  // fewer while more follow, and the next page starts after its last key.
  // One more than the page holds tells whether another page follows.
  const size_t want = limit + 1;
  std::vector<LockSummary> found;  // The first `want` keys so far, sorted.
  auto by_key = [](const LockSummary& a, const LockSummary& b) {
    return a.key < b.key;
  };
  using Entry = std::pair<const std::string, KeyState>;
  std::vector<const Entry*> matches;
  for (Shard* shard : shards) {
    std::vector<LockSummary> batch;
    {
      absl::MutexLock lock(&shard->mu);
      matches.clear();
      for (const Entry& entry : shard->keys) {
        const std::string& key = entry.first;
        if (key <= after || !absl::StartsWith(key, prefix)) continue;
        if (found.size() == want && key >= found.back().key) continue;
        if (!Listed(entry.second, filter, held_before)) continue;
        matches.push_back(&entry);
      }
      KeepSmallest(matches, want, [](const Entry* a, const Entry* b) {
        return a->first < b->first;
      });
      batch.reserve(matches.size());
      for (const Entry* entry : matches) {
        LockSummary summary;
        summary.key = entry->first;
        for (const Holder& h : entry->second.holders) {
          summary.holders.push_back(ToHolderInfo(entry->first, h));
        }
        summary.waiter_count = entry->second.waiters.size();
        batch.push_back(std::move(summary));
      }
    }
    // Merged outside the shard's mutex.
    MergeSmallest(found, std::move(batch), want, by_key);
  }
  if (found.size() > limit) {
    found.resize(limit);
    page.next_after = found.back().key;
  }
  page.locks = std::move(found);
  return page;
}

SessionPage ListSessionsIn(SessionRegistry& sessions, uint64_t after,
                           size_t limit) {
  SessionPage page;
  if (limit == 0) return page;
  std::vector<std::shared_ptr<Session>> found = sessions.Page(after, limit + 1);
  if (found.size() > limit) {
    found.resize(limit);
    page.next_after = found.back()->id;
  }
  page.sessions.reserve(found.size());
  // The registry's mutexes are leaves: each session's own mutex is taken
  // only now, with no other table mutex held.
  for (const std::shared_ptr<Session>& session : found) {
    Session& s = *session;
    SessionSummary summary;
    {
      absl::MutexLock lock(&s.mu);
      if (s.ended) continue;  // Ended since it was picked.
      summary.expires_at = s.expires_at;
      summary.held_keys = s.held.size();
      summary.waiting_keys = s.waiting.size();
    }
    summary.session_id = s.id;
    summary.owner = s.owner;
    summary.client_name = s.client_name;
    summary.labels = *s.labels;
    summary.ttl = s.ttl;
    page.sessions.push_back(std::move(summary));
  }
  return page;
}

}  // namespace table_internal
}  // namespace taala
