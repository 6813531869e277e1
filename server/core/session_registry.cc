#include "server/core/session_registry.h"

#include <utility>

#include "server/core/top_n.h"

namespace taala {
namespace table_internal {

std::shared_ptr<Session> SessionRegistry::Find(uint64_t id) {
  MapShard& m = ShardOf(id);
  absl::MutexLock lock(&m.mu);
  auto it = m.sessions.find(id);
  return it == m.sessions.end() ? nullptr : it->second;
}

bool SessionRegistry::Insert(std::shared_ptr<Session> session) {
  const uint64_t id = session->id;
  MapShard& m = ShardOf(id);
  absl::MutexLock lock(&m.mu);
  return m.sessions.emplace(id, std::move(session)).second;
}

void SessionRegistry::Erase(uint64_t id) {
  MapShard& m = ShardOf(id);
  absl::MutexLock lock(&m.mu);
  m.sessions.erase(id);
}

std::vector<std::shared_ptr<Session>> SessionRegistry::All() {
  std::vector<std::shared_ptr<Session>> sessions;
  for (MapShard& m : shards_) {
    absl::MutexLock lock(&m.mu);
    for (const auto& [id, s] : m.sessions) sessions.push_back(s);
  }
  return sessions;
}

size_t SessionRegistry::Count() {
  size_t n = 0;
  for (MapShard& m : shards_) {
    absl::MutexLock lock(&m.mu);
    n += m.sessions.size();
  }
  return n;
}

std::vector<std::shared_ptr<Session>> SessionRegistry::Page(uint64_t after,
                                                            size_t want) {
  std::vector<std::shared_ptr<Session>> found;  // The first `want`, sorted.
  auto by_id = [](const std::shared_ptr<Session>& a,
                  const std::shared_ptr<Session>& b) { return a->id < b->id; };
  std::vector<const std::shared_ptr<Session>*> matches;
  for (MapShard& m : shards_) {
    std::vector<std::shared_ptr<Session>> batch;
    {
      absl::MutexLock lock(&m.mu);
      matches.clear();
      for (const auto& [id, session] : m.sessions) {
        if (id <= after) continue;
        if (found.size() == want && id >= found.back()->id) continue;
        matches.push_back(&session);
      }
      KeepSmallest(matches, want,
                   [](const std::shared_ptr<Session>* a,
                      const std::shared_ptr<Session>* b) {
                     return (*a)->id < (*b)->id;
                   });
      for (const std::shared_ptr<Session>* s : matches) batch.push_back(*s);
    }
    MergeSmallest(found, std::move(batch), want, by_id);
  }
  return found;
}

}  // namespace table_internal
}  // namespace taala
