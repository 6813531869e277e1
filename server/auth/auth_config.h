#ifndef TAALA_SERVER_AUTH_AUTH_CONFIG_H_
#define TAALA_SERVER_AUTH_AUTH_CONFIG_H_

// What decides who a caller is and what it may do, as one immutable value
// that a reload (SIGHUP) replaces whole: calls in flight keep the one they
// started with.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/auth/acl.h"
#include "server/auth/token_file.h"

namespace taala {
namespace auth {

struct AuthConfig {
  // --auth_tokens_file, if set.
  std::optional<TokenFile> tokens;
  // --acl_file, if set: then whatever it does not grant is denied; without
  // it every identity admitted may do everything.
  std::optional<Acl> acl;
  // --tls_client_ca is set: a verified client certificate names the caller.
  bool client_certificates = false;
  // Anonymous callers are admitted: no auth flag at all (the loopback
  // default), or --allow_anonymous.
  bool allow_anonymous = true;
};

// Thread safety: every method may be called concurrently; mu_ is a leaf.
class AuthState {
 public:
  explicit AuthState(std::shared_ptr<const AuthConfig> config)
      : config_(std::move(config)), version_(NextVersion()) {}
  AuthState() : AuthState(std::make_shared<const AuthConfig>()) {}

  // The config in force, for every call: no mutex shared by all calls
  // once this thread has seen it (a per-thread copy, refreshed when Set
  // changes the version). Valid until this thread's next Get (of any
  // AuthState).
  const AuthConfig& Get() const ABSL_LOCKS_EXCLUDED(mu_);

  // Changes at every Set. An open stream notes it when it checks its
  // caller, and checks again once it changed (a reload).
  uint64_t version() const {
    return version_.load(std::memory_order_acquire);
  }

  std::shared_ptr<const AuthConfig> Current() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return config_;
  }
  void Set(std::shared_ptr<const AuthConfig> config) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    config_.swap(config);
    version_.store(NextVersion(), std::memory_order_release);
  }

 private:
  // Unique across every AuthState, so a thread's copy is never mistaken
  // for another state's.
  static uint64_t NextVersion();

  mutable absl::Mutex mu_;
  std::shared_ptr<const AuthConfig> config_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> version_;
};

}  // namespace auth
}  // namespace taala

#endif  // TAALA_SERVER_AUTH_AUTH_CONFIG_H_
