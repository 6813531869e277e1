#ifndef TAALA_SERVER_RPC_ACQUIRE_REACTOR_H_
#define TAALA_SERVER_RPC_ACQUIRE_REACTOR_H_

// The reactors of calls that may wait for a grant: a pending reactor each,
// never a blocked thread. Each is queued in the table as a Waiter, finished
// by whoever completes it (a release, a timer, the session's end, shutdown)
// on that thread and never under a table mutex, and deleted by gRPC's
// OnDone after Finish.

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include "server/core/clock.h"
#include "server/core/commands.h"
#include "server/core/lock_table.h"
#include "server/core/multi_acquire.h"
#include "server/rpc/call_gate.h"

namespace taala {

// Acquire (acquire_reactor.cc): queues `cmd`, which the table could not
// answer at once, with a new reactor as its waiter (or answers at once if
// the key became free meanwhile), and returns the reactor. On OK the
// serialized v1::AcquireResponse goes to `raw_resp`. A cancel by the caller
// takes the wait out of the queue. A RESOURCE_EXHAUSTED answer (a limit)
// is written to `gate`'s audit log as `who`'s. Unless `whole_cycle`, a
// deadlock refusal names only the caller's own wait (WithoutForeignCycle,
// caller_views.h). `table`, `clock` and `gate` must outlive the call.
grpc::ServerUnaryReactor* StartAcquireReactor(LockTable* table, Clock* clock,
                                              CallGate* gate,
                                              auth::Identity who,
                                              AcquireCmd cmd,
                                              grpc::ByteBuffer* raw_resp,
                                              bool whole_cycle = true);

// AcquireAll (acquire_all_reactor.cc): runs `cmd` as a MultiAcquire (all
// or nothing, keys in sorted order) with a new reactor as its listener, and
// returns the reactor. On OK the serialized v1::AcquireAllResponse goes to
// `raw_resp`. A cancel by the caller ends the call with CANCELLED after
// giving back the keys it took. A RESOURCE_EXHAUSTED answer is audited as
// for Acquire; `whole_cycle` as for StartAcquireReactor. `table`, `clock`
// and `gate` must outlive the call.
grpc::ServerUnaryReactor* StartAcquireAllReactor(LockTable* table,
                                                 Clock* clock, CallGate* gate,
                                                 auth::Identity who,
                                                 MultiAcquireCmd cmd,
                                                 grpc::ByteBuffer* raw_resp,
                                                 bool whole_cycle = true);

}  // namespace taala

#endif  // TAALA_SERVER_RPC_ACQUIRE_REACTOR_H_
