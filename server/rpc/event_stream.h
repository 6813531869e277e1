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

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include "server/core/clock.h"
#include "server/core/lock_table.h"
#include "server/rpc/call_gate.h"

namespace taala {

// Raw bytes both ways: a request that does not parse ends the stream with
// INVALID_ARGUMENT "KeepAliveRequest: ..." (raw_request.h).
using KeepAliveReactorBase =
    grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>;

// A new KeepAlive stream. The caller is authenticated by `gate` at once
// (UNAUTHENTICATED ends the stream). Its first keepalive binds it to that
// session (a session of another identity is NOT_FOUND like an unknown one,
// audited) and attaches it as the session's event sink. A session has one
// stream: a newer stream takes the session over, the older one ends with
// ABORTED "another KeepAlive stream took over session N", and every event
// not yet acknowledged is sent again on the newer one (docs/api.md). A
// keepalive for another session ends it with INVALID_ARGUMENT. After a
// reload (CallGate::config_version changed) the next keepalive checks the
// caller again: refused (UNAUTHENTICATED), or no longer the session's owner
// (NOT_FOUND), it renews nothing and ends the stream. The reactor
// deletes itself in OnDone. `table`, `clock` and `gate` must outlive it.
KeepAliveReactorBase* NewKeepAliveReactor(grpc::CallbackServerContext* ctx,
                                          LockTable* table, Clock* clock,
                                          CallGate* gate);

}  // namespace taala

#endif  // TAALA_SERVER_RPC_EVENT_STREAM_H_
