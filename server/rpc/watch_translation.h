#ifndef TAALA_SERVER_RPC_WATCH_TRANSLATION_H_
#define TAALA_SERVER_RPC_WATCH_TRANSLATION_H_

// Watch's proto translation: a WatchRecord (server/core/watch_fold.h) into
// a WatchEvent, a snapshot into WatchResponse messages of bounded size, and
// the request into a filter.

#include <vector>

#include "absl/status/statusor.h"
#include "server/core/key.h"
#include "server/core/watch_fold.h"
#include "taala/v1/lock_service.pb.h"

namespace taala {

// INVALID_ARGUMENT if both key and prefix are set or one is malformed.
absl::StatusOr<WatchFilter> ToWatchFilter(const v1::WatchRequest& req,
                                          const KeyLimits& limits);

void ToProto(const WatchRecord& r, v1::WatchEvent* out);

// A DEADLOCK_REFUSED event for a watcher of `filter`: the cycle's edges on
// keys outside it are dropped and, if any was, the reason names only the
// refused wait and the holder of its key (WithoutForeignCycle): a watcher
// has `read` on what it watches, not on the rest of the cycle (the whole
// cycle: GetRecentDeadlocks, which needs `read` on every key). Other
// events, and watchers of every key, are left as they are.
void KeepCycleWithin(const WatchFilter& filter, v1::WatchEvent* event);

// The snapshot in messages of at most about `max_bytes` each (a key is
// never split); the last has `complete` set. At least one message.
std::vector<v1::WatchResponse> SnapshotMessages(const WatchSnapshotState& s,
                                                size_t max_bytes);

}  // namespace taala

#endif  // TAALA_SERVER_RPC_WATCH_TRANSLATION_H_
