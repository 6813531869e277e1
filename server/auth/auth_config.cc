#include "server/auth/auth_config.h"

namespace taala {
namespace auth {
namespace {

std::atomic<uint64_t> next_version{1};

struct CachedConfig {
  uint64_t version = 0;
  std::shared_ptr<const AuthConfig> config;
};

}  // namespace

uint64_t AuthState::NextVersion() { return next_version.fetch_add(1); }

const AuthConfig& AuthState::Get() const {
  thread_local CachedConfig cache;
  if (cache.version != version_.load(std::memory_order_acquire)) {
    absl::MutexLock lock(&mu_);
    cache.config = config_;
    cache.version = version_.load(std::memory_order_relaxed);
  }
  return *cache.config;
}

}  // namespace auth
}  // namespace taala
