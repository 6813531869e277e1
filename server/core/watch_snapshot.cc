// LockTable: Watch's snapshot. Shards are read one at a time, each under
// its mutex, noting the hub's ring position there (shard mutex -> hub
// mutex, the lock order). The last shard read gives the snapshot's LSN S;
// every other shard's part is brought forward to S by folding in the ring
// records of its own matching keys made between its point and S (a key's
// records are made under its shard's mutex, so none of them is missing or
// already counted). The watcher then goes on from S's position.

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/core/lock_table.h"
#include "server/core/shard.h"

namespace taala {

absl::StatusOr<WatchSnapshotState> LockTable::SnapshotForWatch(
    const WatchFilter& filter, WatchHub& hub) {
  std::vector<Shard*> shards;
  const std::string& anchor = filter.key.empty() ? filter.prefix : filter.key;
  if (!filter.key.empty() || anchor.find('/') != std::string::npos) {
    shards.push_back(&ShardFor(anchor));  // One first segment, one shard.
  } else {
    for (const auto& shard : shards_) shards.push_back(shard.get());
  }
  struct Part {
    Shard* shard;
    WatchHub::Mark mark;
    WatchKeys keys;
  };
  std::vector<Part> parts;
  parts.reserve(shards.size());
  const absl::Duration wall = options_.wall_offset;
  for (Shard* shard : shards) {
    Part& part = parts.emplace_back(Part{shard, {}, {}});
    absl::MutexLock lock(&shard->mu);
    for (const auto& [key, state] : shard->keys) {
      if (!state.in_use() || !filter.Matches(key)) continue;
      WatchedKeyState& k = part.keys[key];
      for (const table_internal::Holder& h : state.holders) {
        k.holders.push_back(WatchedHolderState{h.session->id,
                                               h.session->client_name, h.token,
                                               h.mode, h.granted_at + wall});
      }
      std::sort(k.holders.begin(), k.holders.end(),
                [](const WatchedHolderState& a, const WatchedHolderState& b) {
                  return a.token < b.token;
                });
      for (const auto& [seq, w] : state.waiters) {
        k.waiters.push_back(WatchedWaiterState{w.session->id,
                                               w.session->client_name, w.mode,
                                               w.enqueued_at + wall,
                                               w.upgrade});
      }
      if (!state.holders.empty() || !state.waiters.empty()) {
        k.semaphore_size = state.limit;
      }
      if (state.delayed_until != absl::InfinitePast()) {
        k.delay_until = state.delayed_until + wall;
      }
    }
    part.mark = hub.Now();
  }
  WatchSnapshotState out;
  const WatchHub::Mark last = parts.back().mark;
  out.lsn = last.lsn;
  out.position = last.position;
  for (Part& part : parts) {
    const uint64_t from = part.mark.position;
    if (from < last.position) {
      uint64_t first = 0;
      const std::vector<WatchHub::RecordPtr> records =
          hub.Read(from, last.position - from, &first);
      if (first > from) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "the watch history (taalad --watch_history) overflowed while the "
            "snapshot was read; watch again"));
      }
      for (const WatchHub::RecordPtr& r : records) {
        if (&ShardFor(r->key) == part.shard && filter.Matches(r->key)) {
          FoldWatchRecord(*r, part.keys);
        }
      }
    }
    out.keys.merge(part.keys);
  }
  return out;
}

}  // namespace taala
