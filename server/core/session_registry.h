#ifndef TAALA_SERVER_CORE_SESSION_REGISTRY_H_
#define TAALA_SERVER_CORE_SESSION_REGISTRY_H_

// The live sessions by id.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "server/core/session.h"

namespace taala {
namespace table_internal {

// A map from session id to session, split into shards by id so that lookups
// of different sessions rarely meet.
//
// Thread safety: every method may be called concurrently. Each shard's
// mutex is a leaf: it is held only inside these methods, and no other
// mutex is taken under it (a session's own mutex included).
class SessionRegistry {
 public:
  // The session, or null if `id` is unknown or its session has ended.
  std::shared_ptr<Session> Find(uint64_t id);
  // False (and nothing changed) if the id is taken.
  bool Insert(std::shared_ptr<Session> session);
  void Erase(uint64_t id);

  // Every live session, in no order.
  std::vector<std::shared_ptr<Session>> All();
  size_t Count();
  // The first `want` sessions with ids above `after`, in id order. Each
  // shard's mutex is held only while its candidates are picked.
  std::vector<std::shared_ptr<Session>> Page(uint64_t after, size_t want);

 private:
  static constexpr size_t kShards = 16;
  struct MapShard {
    absl::Mutex mu;
    absl::flat_hash_map<uint64_t, std::shared_ptr<Session>> sessions
        ABSL_GUARDED_BY(mu);
  };
  MapShard& ShardOf(uint64_t id) { return shards_[id % kShards]; }

  MapShard shards_[kShards];
};

}  // namespace table_internal
}  // namespace taala

#endif  // TAALA_SERVER_CORE_SESSION_REGISTRY_H_
