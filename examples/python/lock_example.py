#!/usr/bin/env python3
"""Take and release a taala lock from Python.

This is the whole life of a lock, written to be copied:

  1. open a session (a lease: every lock belongs to one);
  2. keep the session alive on the KeepAlive stream from a background thread,
     and watch the events taalad pushes on it (GRANT_REVOKED, SESSION_EXPIRED);
  3. acquire the key, waiting in its FIFO queue for a bounded time;
  4. use the fencing token: pass it to whatever the lock protects (here,
     CheckFence stands in for that resource's check);
  5. do the work, stopping if the lock is lost;
  6. release the key with its token and close the session.

It uses only the stubs generated from proto/taala/v1/lock_service.proto by
protoc and grpc_python_plugin (see README.md); put the directory that holds
taala/v1/lock_service_pb2.py on PYTHONPATH:

  PYTHONPATH=build/examples/python/gen /usr/bin/python3 lock_example.py

Against a taalad with TLS (--tls_cert) pass --tls-ca (and --tls-cert and
--tls-key for mutual TLS); with --auth_tokens_file pass --token or set
$TAALA_TOKEN: the token goes as `authorization: Bearer <token>` metadata on
every call, the KeepAlive stream included (see docs/security.md).

Output: human-readable progress, plus lines of the form `word key=value ...`
that scripts can check (`acquired key=... token=...`, `released key=...`).
Exit status: 0 on success, 1 on any error (the message says what failed),
2 if the key stayed held by someone else for the whole wait.
"""

import argparse
import collections
import os
import sys
import threading
import time

try:
    import grpc
    from taala.v1 import lock_service_pb2 as pb
    from taala.v1 import lock_service_pb2_grpc as pb_grpc
except ImportError as e:
    sys.exit(
        f"lock_example: cannot import the gRPC stubs ({e}).\n"
        "Install python3-grpcio and python3-protobuf, generate the stubs "
        "(see examples/python/README.md) and put their directory on PYTHONPATH."
    )


class SessionLost(Exception):
    """The session (and with it every lock it held) is gone."""


class KeepAlive:
    """Keeps one session alive on the bidirectional KeepAlive stream.

    A background thread reads the stream; the request side is a generator
    that gRPC drains on its own thread, sending one KeepAliveRequest right
    away and then one every ttl/3. Stopping ends the generator, which
    half-closes the stream; taalad then ends it with OK.
    """

    def __init__(self, stub, session_id, ttl_ms):
        self._stub = stub
        self._session_id = session_id
        self._interval_s = ttl_ms / 3 / 1000
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="taala-keepalive", daemon=True)
        self.acks = 0          # renewals answered by taalad
        self.lost = None       # why the session or a grant was lost, if it was
        self.revoked = set()   # (key, fencing_token) of revoked grants

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)

    def _requests(self):
        while True:
            yield pb.KeepAliveRequest(session_id=self._session_id)
            if self._stop.wait(self._interval_s):
                return  # half-close: the server ends the stream with OK

    def _run(self):
        try:
            for response in self._stub.KeepAlive(self._requests()):
                if response.WhichOneof("kind") == "ttl_ms":
                    self.acks += 1
                    continue
                event = response.event
                kind = pb.SessionEvent.Type.Name(event.type)
                print(f"event type={kind} key={event.key} "
                      f"token={event.fencing_token} reason={event.reason!r}",
                      flush=True)
                if event.type == pb.SessionEvent.GRANT_REVOKED:
                    self.revoked.add((event.key, event.fencing_token))
                elif event.type == pb.SessionEvent.SESSION_EXPIRED:
                    self.lost = f"session expired: {event.reason}"
        except grpc.RpcError as e:
            if not self._stop.is_set() and self.lost is None:
                # NOT_FOUND: the session expired or was closed; UNAVAILABLE:
                # taalad is shutting down. Either way the locks are gone.
                self.lost = f"KeepAlive stream ended: {e.code().name}: {e.details()}"
            return
        if not self._stop.is_set() and self.lost is None:
            self.lost = "KeepAlive stream ended unexpectedly"

    def check(self, key, token):
        """Raises SessionLost if the session or this grant is gone."""
        if self.lost is not None:
            raise SessionLost(self.lost)
        if (key, token) in self.revoked:
            raise SessionLost(f"grant of {key} (token {token}) was revoked")


class CallDetails(collections.namedtuple(
        "CallDetails", ("method", "timeout", "metadata", "credentials",
                        "wait_for_ready", "compression")),
                  grpc.ClientCallDetails):
    pass


class BearerToken(grpc.UnaryUnaryClientInterceptor,
                  grpc.StreamStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call and stream.

    An interceptor rather than grpc.access_token_call_credentials: call
    credentials are sent only over TLS, and taalad on loopback is plaintext.
    """

    def __init__(self, token):
        self._entry = ("authorization", f"Bearer {token}")

    def _with_token(self, details):
        return CallDetails(details.method, details.timeout,
                           list(details.metadata or []) + [self._entry],
                           details.credentials, details.wait_for_ready,
                           details.compression)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._with_token(details), requests)


def open_channel(args):
    """A plaintext channel, or TLS if a CA or client certificate is given."""
    if not (args.tls_ca or args.tls_cert):
        return grpc.insecure_channel(args.endpoint)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise SystemExit("lock_example: --tls-cert and --tls-key go together")

    def read(path):
        with open(path, "rb") as f:
            return f.read()
    creds = grpc.ssl_channel_credentials(
        root_certificates=read(args.tls_ca) if args.tls_ca else None,
        private_key=read(args.tls_key) if args.tls_key else None,
        certificate_chain=read(args.tls_cert) if args.tls_cert else None)
    return grpc.secure_channel(args.endpoint, creds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--endpoint", default=os.environ.get("TAALA_ENDPOINT", "127.0.0.1:7070"),
        help="taalad host:port (default: $TAALA_ENDPOINT or 127.0.0.1:7070)")
    parser.add_argument("--key", default="examples/python",
                        help="the key to lock (default: %(default)s)")
    parser.add_argument("--ttl-ms", type=int, default=10000,
                        help="session lease (default: %(default)s)")
    parser.add_argument("--wait-ms", type=int, default=5000,
                        help="how long to wait for the key (default: %(default)s)")
    parser.add_argument("--work-seconds", type=float, default=1.0,
                        help="how long the 'work' holds the lock (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="deadline in seconds for connecting and for each "
                             "call, on top of the wait (default: %(default)s)")
    parser.add_argument("--tls-ca", default=os.environ.get("TAALA_TLS_CA"),
                        help="speak TLS; PEM CA of taalad's certificate "
                             "(default: $TAALA_TLS_CA)")
    parser.add_argument("--tls-cert", default=os.environ.get("TAALA_TLS_CERT"),
                        help="client certificate for mutual TLS "
                             "(default: $TAALA_TLS_CERT)")
    parser.add_argument("--tls-key", default=os.environ.get("TAALA_TLS_KEY"),
                        help="its private key (default: $TAALA_TLS_KEY)")
    parser.add_argument("--token", default=os.environ.get("TAALA_TOKEN"),
                        help="bearer token (default: $TAALA_TOKEN)")
    args = parser.parse_args()

    timeout = args.timeout
    with open_channel(args) as base:
        try:
            grpc.channel_ready_future(base).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise SystemExit(f"lock_example: cannot connect to taalad at "
                             f"{args.endpoint} within {timeout}s")
        channel = base
        if args.token:
            channel = grpc.intercept_channel(base, BearerToken(args.token))
        stub = pb_grpc.LockServiceStub(channel)

        # 1. A session. taalad clamps the TTL and says what it granted.
        session = stub.CreateSession(
            pb.CreateSessionRequest(ttl_ms=args.ttl_ms,
                                    client_name="python-example",
                                    labels={"lang": "python"}),
            timeout=timeout)
        sid = session.session_id
        print(f"session id={sid} ttl_ms={session.ttl_ms}", flush=True)

        # 2. Keep it alive. From now on, always close the session on the way
        #    out: that releases its locks at once instead of at lease expiry.
        keepalive = KeepAlive(stub, sid, session.ttl_ms)
        keepalive.start()
        try:
            run_with_session(stub, keepalive, sid, args)
        finally:
            keepalive.stop()
            print(f"keepalive acks={keepalive.acks}", flush=True)
            try:
                closed = stub.CloseSession(
                    pb.CloseSessionRequest(session_id=sid), timeout=timeout)
                print(f"closed session={sid} "
                      f"released_grants={closed.released_grants}", flush=True)
            except grpc.RpcError as e:
                # NOT_FOUND if the session already expired: nothing to undo.
                print(f"lock_example: CloseSession: {e.code().name}: "
                      f"{e.details()}", file=sys.stderr)


def run_with_session(stub, keepalive, sid, args):
    key, timeout = args.key, args.timeout

    # 3. Acquire, waiting at most --wait-ms in the key's FIFO queue. Give the
    #    call a deadline longer than the wait so the wait decides.
    print(f"acquiring key={key} wait_ms={args.wait_ms}", flush=True)
    reply = stub.Acquire(
        pb.AcquireRequest(session_id=sid, key=key,
                          mode=pb.LOCK_MODE_EXCLUSIVE,
                          wait_timeout_ms=args.wait_ms),
        timeout=args.wait_ms / 1000 + timeout)
    if reply.result != pb.AcquireResponse.ACQUIRED:
        # Not an error from taalad's point of view: the key stayed held.
        holders = stub.DescribeLock(pb.DescribeLockRequest(key=key),
                                    timeout=timeout).holders
        who = ", ".join(f"session {h.grant.session_id} ({h.client_name})"
                        for h in holders) or "nobody any more"
        print(f"timed_out key={key} held_by={who}", flush=True)
        raise SystemExit(2)
    token = reply.grant.fencing_token
    print(f"acquired key={key} token={token}", flush=True)

    # 4. The fencing token goes with every write to the protected resource.
    #    A resource that remembers the highest token it has seen rejects
    #    lower ones; one that cannot asks taala, as here.
    stub.CheckFence(pb.CheckFenceRequest(key=key, fencing_token=token),
                    timeout=timeout)
    print(f"fence_ok key={key} token={token}", flush=True)

    # 5. The work, in small steps, each after checking the lock still holds.
    deadline = time.monotonic() + args.work_seconds
    while True:
        keepalive.check(key, token)
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(0.1, left))  # "work"
    print(f"worked key={key} seconds={args.work_seconds}", flush=True)

    # 6. Release with the token: only this grant of this session may.
    stub.Release(pb.ReleaseRequest(session_id=sid, key=key,
                                   fencing_token=token),
                 timeout=timeout)
    print(f"released key={key}", flush=True)


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        # The status message names the key and/or session concerned.
        sys.exit(f"lock_example: {e.code().name}: {e.details()}")
    except SessionLost as e:
        sys.exit(f"lock_example: lock lost, work abandoned: {e}")
    except KeyboardInterrupt:
        sys.exit("lock_example: interrupted")
