// Takes two locks together with std::scoped_lock, prints their fencing
// tokens, and releases them on scope exit.
//   consumer [ENDPOINT]    (default: $TAALA_ENDPOINT or 127.0.0.1:7070)

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include <taala/client/lock_client.h>

int main(int argc, char** argv) {
  taala::ClientOptions options;
  if (argc > 1) {
    options.endpoints = {argv[1]};
  } else if (const char* env = std::getenv("TAALA_ENDPOINT")) {
    options.endpoints = {env};
  }
  auto client = taala::Client::Connect(options);
  if (!client.ok()) {
    std::fprintf(stderr, "connect: %s\n", client.status().ToString().c_str());
    return 1;
  }
  taala::SessionOptions session_options;
  session_options.client_name = "example-consumer";
  auto session = (*client)->CreateSession(session_options);
  if (!session.ok()) {
    std::fprintf(stderr, "session: %s\n", session.status().ToString().c_str());
    return 1;
  }
  taala::Lock from(**session, "accounts/alice");
  taala::Lock to(**session, "accounts/bob");
  try {
    std::scoped_lock both(from, to);  // Released on every way out.
    std::printf("holding accounts/alice token=%llu accounts/bob token=%llu\n",
                static_cast<unsigned long long>(from.fencing_token()),
                static_cast<unsigned long long>(to.fencing_token()));
  } catch (const taala::LockError& e) {
    std::fprintf(stderr, "lock: %s\n", e.what());
    return 1;
  }
  std::printf("released\n");
  return 0;
}
