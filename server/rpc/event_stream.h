#ifndef TAALA_SERVER_RPC_EVENT_STREAM_H_
#define TAALA_SERVER_RPC_EVENT_STREAM_H_

// A session's KeepAlive stream: the reactor that reads keepalives and the
// bounded writer behind it that sends acknowledgements and the session's
// events, one write in flight at a time (the shape of gRPC's own
// health-watch reactor). The acknowledgement not yet written goes ahead of
// queued events and is coalesced with newer ones (it echoes the newest
// request_sequence), so a client that does not read cannot grow the queue;
// events are bounded by the table, which keeps each until the client
// acknowledges it (acked_event_sequence) and resends it on the next stream.
// A client that never sends acked_event_sequence has each event
// acknowledged once written.

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
