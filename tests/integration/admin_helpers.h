#ifndef TAALA_TESTS_INTEGRATION_ADMIN_HELPERS_H_
#define TAALA_TESTS_INTEGRATION_ADMIN_HELPERS_H_

// For tests of taalad's HTTP admin listener: plain HTTP requests to it, a
// session with labels, and a waiting acquire that runs on its own thread.

#include <httplib.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/rpc_helpers.h"

namespace taala::test {

struct HttpReply {
  int status = 0;  // 0: no answer (the message says why).
  std::string body;
  std::string content_type;
  std::string error;
};

inline HttpReply Http(int port, const std::string& method,
                      const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(10);
  client.set_read_timeout(30);
  const auto send = [&]() -> httplib::Result {
    if (method == "GET") return client.Get(path);
    if (method == "HEAD") return client.Head(path);
    if (method == "POST") return client.Post(path, "{}", "application/json");
    if (method == "PUT") return client.Put(path, "{}", "application/json");
    if (method == "DELETE") return client.Delete(path);
    return client.Options(path);
  };
  httplib::Result r = send();
  HttpReply reply;
  if (!r) {
    reply.error = httplib::to_string(r.error());
    return reply;
  }
  reply.status = r->status;
  reply.body = r->body;
  reply.content_type = r->get_header_value("Content-Type");
  return reply;
}

inline HttpReply HttpGet(int port, const std::string& path) {
  return Http(port, "GET", path);
}

// A session with a client name and labels, kept alive by its long TTL.
inline uint64_t LabelledSession(v1::LockService::Stub* stub,
                                const std::string& name,
                                const std::map<std::string, std::string>& labels,
                                int64_t ttl_ms = 600000) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
  ctx.set_wait_for_ready(true);
  v1::CreateSessionRequest req;
  req.set_ttl_ms(ttl_ms);
  req.set_client_name(name);
  for (const auto& [k, v] : labels) (*req.mutable_labels())[k] = v;
  v1::CreateSessionResponse resp;
  const grpc::Status s = stub->CreateSession(&ctx, req, &resp);
  return s.ok() ? resp.session_id() : 0;
}

// An Acquire that waits (up to ten minutes) on its own thread until the key
// is granted or the object is destroyed (which cancels the call).
class BackgroundWaiter {
 public:
  BackgroundWaiter(v1::LockService::Stub* stub, uint64_t session,
                   const std::string& key) {
    req_.set_session_id(session);
    req_.set_key(key);
    req_.set_wait_timeout_ms(600000);
    ctx_.set_deadline(DeadlineIn(std::chrono::minutes(11)));
    thread_ = std::thread([this, stub] {
      status_ = stub->Acquire(&ctx_, req_, &resp_);
    });
  }
  ~BackgroundWaiter() {
    ctx_.TryCancel();
    thread_.join();
  }

 private:
  grpc::ClientContext ctx_;
  v1::AcquireRequest req_;
  v1::AcquireResponse resp_;
  grpc::Status status_;
  std::thread thread_;
};

// Polls DescribeLock until `key` has `waiters` waiters (or 30 s pass).
inline bool AwaitWaiters(v1::LockService::Stub* stub, const std::string& key,
                         int waiters) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < give_up) {
    v1::DescribeLockResponse d;
    if (Describe(stub, key, &d).ok() &&
        static_cast<int>(d.waiter_count()) >= waiters) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace taala::test

#endif  // TAALA_TESTS_INTEGRATION_ADMIN_HELPERS_H_
