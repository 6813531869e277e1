#!/usr/bin/env python3
"""Proves, with the generated Python stubs, that taalad's lock is a real lock.

Usage: PYTHONPATH=<gen dir> check_exclusive.py <endpoint> <key>

Two sessions, A and B, on one key:
  - A acquires; B's try-lock (wait_timeout_ms=0) and a short wait both get
    TIMED_OUT; DescribeLock names A as the holder;
  - B waits in the queue; A releases; B is handed the key with a larger token;
  - A's old token now fails CheckFence and Release (FAILED_PRECONDITION).
Prints `ok ...` lines; exits 1 with the failed check on the first mismatch.
"""

import sys
import threading
import time

import grpc
from taala.v1 import lock_service_pb2 as pb
from taala.v1 import lock_service_pb2_grpc as pb_grpc

TIMEOUT = 10  # seconds, for every call


def fail(message):
    sys.exit(f"check_exclusive: FAILED: {message}")


def expect(condition, message):
    if not condition:
        fail(message)
    print(f"ok {message}", flush=True)


def expect_status(code, what, fn):
    try:
        fn()
    except grpc.RpcError as e:
        expect(e.code() == code,
               f"{what} -> {code.name} (got {e.code().name}: {e.details()})")
        return
    fail(f"{what} succeeded, expected {code.name}")


def main():
    endpoint, key = sys.argv[1], sys.argv[2]
    with grpc.insecure_channel(endpoint) as channel:
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
        stub = pb_grpc.LockServiceStub(channel)

        def session(name):
            return stub.CreateSession(
                pb.CreateSessionRequest(ttl_ms=30000, client_name=name),
                timeout=TIMEOUT).session_id

        def acquire(sid, wait_ms, timeout=TIMEOUT):
            return stub.Acquire(
                pb.AcquireRequest(session_id=sid, key=key,
                                  wait_timeout_ms=wait_ms),
                timeout=timeout)

        a, b = session("check-a"), session("check-b")

        got_a = acquire(a, 0)
        expect(got_a.result == pb.AcquireResponse.ACQUIRED,
               f"A try-lock of free {key} -> ACQUIRED")
        token_a = got_a.grant.fencing_token
        expect(token_a > 0 and got_a.grant.session_id == a,
               f"A's grant: token {token_a} > 0, session {a}")

        got_b = acquire(b, 0)
        expect(got_b.result == pb.AcquireResponse.TIMED_OUT
               and not got_b.HasField("grant"),
               f"B try-lock while A holds -> TIMED_OUT "
               f"(got {pb.AcquireResponse.Result.Name(got_b.result)})")
        got_b = acquire(b, 200)
        expect(got_b.result == pb.AcquireResponse.TIMED_OUT,
               "B 200ms wait while A holds -> TIMED_OUT")

        holders = stub.DescribeLock(pb.DescribeLockRequest(key=key),
                                    timeout=TIMEOUT).holders
        expect(len(holders) == 1 and holders[0].grant.session_id == a
               and holders[0].client_name == "check-a"
               and holders[0].grant.fencing_token == token_a,
               "DescribeLock names A (check-a) with A's token")

        # B waits in the queue; A's release hands the key over at once.
        waited = {}

        def wait_b():
            try:
                waited["reply"] = acquire(b, 10000, timeout=15)
            except grpc.RpcError as e:
                waited["error"] = e

        waiter = threading.Thread(target=wait_b)
        waiter.start()
        for _ in range(200):  # until B is queued (at most ~10s)
            if stub.DescribeLock(pb.DescribeLockRequest(key=key),
                                 timeout=TIMEOUT).waiter_count == 1:
                break
            time.sleep(0.05)
        else:
            fail("B never showed up in the key's queue")
        print("ok B is queued behind A", flush=True)

        stub.Release(pb.ReleaseRequest(session_id=a, key=key,
                                       fencing_token=token_a),
                     timeout=TIMEOUT)
        waiter.join(timeout=15)
        if waiter.is_alive() or "error" in waited:
            fail(f"B's waiting Acquire did not return after A's release "
                 f"({waited.get('error', 'still waiting')})")
        got_b = waited["reply"]
        expect(got_b.result == pb.AcquireResponse.ACQUIRED
               and got_b.grant.session_id == b,
               "A's release hands the key to waiting B")
        token_b = got_b.grant.fencing_token
        expect(token_b > token_a,
               f"B's token {token_b} > A's token {token_a}")

        stub.CheckFence(pb.CheckFenceRequest(key=key, fencing_token=token_b),
                        timeout=TIMEOUT)
        print(f"ok CheckFence accepts B's token {token_b}", flush=True)
        expect_status(
            grpc.StatusCode.FAILED_PRECONDITION, "CheckFence with A's old token",
            lambda: stub.CheckFence(
                pb.CheckFenceRequest(key=key, fencing_token=token_a),
                timeout=TIMEOUT))
        expect_status(
            grpc.StatusCode.FAILED_PRECONDITION, "Release by A, no longer holder",
            lambda: stub.Release(
                pb.ReleaseRequest(session_id=a, key=key, fencing_token=token_a),
                timeout=TIMEOUT))
        expect_status(
            grpc.StatusCode.FAILED_PRECONDITION, "Release by B with A's token",
            lambda: stub.Release(
                pb.ReleaseRequest(session_id=b, key=key, fencing_token=token_a),
                timeout=TIMEOUT))

        stub.Release(pb.ReleaseRequest(session_id=b, key=key,
                                       fencing_token=token_b),
                     timeout=TIMEOUT)
        for sid in (a, b):
            stub.CloseSession(pb.CloseSessionRequest(session_id=sid),
                              timeout=TIMEOUT)
        holders = stub.DescribeLock(pb.DescribeLockRequest(key=key),
                                    timeout=TIMEOUT).holders
        expect(len(holders) == 0, f"{key} is free at the end")
    print("check_exclusive: all checks passed", flush=True)


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        fail(f"unexpected {e.code().name}: {e.details()}")
    except grpc.FutureTimeoutError:
        fail("cannot connect to taalad")
