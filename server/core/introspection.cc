#include "server/core/introspection.h"

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
  // A session's id and name are constant: no session mutex needed.
  return HolderInfo{
      Grant{key, h.session->id, h.token, h.mode, h.granted_at, h.revoke_at},
      h.session->client_name};
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

absl::Status ValidateListArgs(absl::string_view prefix,
                              absl::string_view after, size_t max_bytes) {
  for (const auto& [field, value] :
       {std::pair<const char*, absl::string_view>{"prefix", prefix},
        std::pair<const char*, absl::string_view>{"page_token", after}}) {
    if (value.size() > max_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", value.size(), " bytes exceeds the limit of ",
                       max_bytes));
    }
    if (!IsValidUtf8(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": not valid UTF-8"));
    }
  }
  return absl::OkStatus();
}

LockPage ListLocksIn(const std::vector<Shard*>& shards,
                     absl::string_view prefix, absl::string_view after,
                     size_t limit) {
  LockPage page;
  if (limit == 0) return page;
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
        const KeyState& st = entry.second;
        if (st.holders.empty() && st.waiters.empty() &&
            st.delayed_until == absl::InfinitePast()) {
          continue;  // Only intentions of keys below: not itself in use.
        }
        if (found.size() == want && key >= found.back().key) continue;
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
    summary.client_name = s.client_name;
    summary.labels = s.labels;
    summary.ttl = s.ttl;
    page.sessions.push_back(std::move(summary));
  }
  return page;
}

}  // namespace table_internal
}  // namespace taala
