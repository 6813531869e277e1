#ifndef TAALA_SERVER_RPC_EVENT_STREAM_H_
#define TAALA_SERVER_RPC_EVENT_STREAM_H_

// A session's KeepAlive stream: the reactor that reads keepalives and the
// bounded writer behind it that sends acknowledgements and the session's
// events, one write in flight at a time (the shape of gRPC's own
// health-watch reactor). Unwritten acknowledgements are coalesced, so a
// client that does not read cannot grow the queue without bound; events are
// bounded by the table (undelivered ones wait there, not here).

#include <grpcpp/support/server_callback.h>

#include "server/core/clock.h"
#include "server/core/lock_table.h"
#include "taala/v1/lock_service.pb.h"

namespace taala {

using KeepAliveReactorBase =
    grpc::ServerBidiReactor<v1::KeepAliveRequest, v1::KeepAliveResponse>;

// A new KeepAlive stream: its first keepalive binds it to that session and
// attaches it as the session's event sink; a keepalive for another session
// ends it with INVALID_ARGUMENT, an unknown session with NOT_FOUND. The
// reactor deletes itself in OnDone. `table` and `clock` must outlive it.
KeepAliveReactorBase* NewKeepAliveReactor(LockTable* table, Clock* clock);

}  // namespace taala

#endif  // TAALA_SERVER_RPC_EVENT_STREAM_H_
