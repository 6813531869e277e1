#ifndef TAALA_SERVER_RPC_DURABLE_FINISH_H_
#define TAALA_SERVER_RPC_DURABLE_FINISH_H_

// Replies leave only once what they report is durable: in fsync mode a
// reply waits for every record appended before it was decided (group
// commit: one fsync serves many replies); in the other modes it leaves at
// once. Waiting costs no thread: the log finishes the call from its own
// thread after the fsync.

#include <grpcpp/support/server_callback.h>

#include <utility>

#include "server/core/transition.h"

namespace taala {

// Finishes `reactor` with `status` once every record appended to `log` so
// far is durable. Call with no table mutex held, after the command ran.
inline void FinishWhenDurable(TransitionLog& log,
                              grpc::ServerUnaryReactor* reactor,
                              grpc::Status status) {
  const uint64_t lsn = log.LastLsn();
  // Already durable (always, outside fsync mode): no callback to allocate.
  if (log.IsDurable(lsn)) {
    reactor->Finish(status);
    return;
  }
  log.WhenDurable(lsn, [reactor, status = std::move(status)] {
    reactor->Finish(status);
  });
}

}  // namespace taala

#endif  // TAALA_SERVER_RPC_DURABLE_FINISH_H_
