#include "server/core/owner_registry.h"

namespace taala {
namespace table_internal {

std::shared_ptr<OwnerCounters> OwnerRegistry::AddSession(
    const std::string& owner, int64_t max_sessions) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<OwnerCounters>& counters = owners_[owner];
  if (counters == nullptr) counters = std::make_shared<OwnerCounters>(owner);
  // Counted under mu_: creations and ends of one owner are serialized here,
  // so this limit is exact.
  if (counters->sessions.load(std::memory_order_relaxed) >= max_sessions) {
    if (counters->sessions.load(std::memory_order_relaxed) == 0 &&
        counters->delayed.load(std::memory_order_relaxed) == 0) {
      owners_.erase(owner);
    }
    return nullptr;
  }
  counters->sessions.fetch_add(1, std::memory_order_relaxed);
  return counters;
}

void OwnerRegistry::RemoveSession(
    const std::string& owner, const std::shared_ptr<OwnerCounters>& counters) {
  absl::MutexLock lock(&mu_);
  if (counters->sessions.fetch_sub(1, std::memory_order_relaxed) == 1 &&
      counters->delayed.load(std::memory_order_relaxed) == 0) {
    auto it = owners_.find(owner);
    if (it != owners_.end() && it->second == counters) owners_.erase(it);
  }
}

std::shared_ptr<OwnerCounters> OwnerRegistry::AddDelay(
    const std::shared_ptr<OwnerCounters>& counters) {
  absl::MutexLock lock(&mu_);
  // A session's grants end (and start their delays) after the session has
  // left the registry: the delay keeps (or makes again) the owner's entry.
  std::shared_ptr<OwnerCounters>& entry = owners_[counters->owner];
  if (entry == nullptr) entry = counters;
  entry->delayed.fetch_add(1, std::memory_order_relaxed);
  return entry;
}

void OwnerRegistry::RemoveDelay(
    const std::shared_ptr<OwnerCounters>& counters) {
  absl::MutexLock lock(&mu_);
  if (counters->delayed.fetch_sub(1, std::memory_order_relaxed) == 1 &&
      counters->sessions.load(std::memory_order_relaxed) == 0) {
    auto it = owners_.find(counters->owner);
    if (it != owners_.end() && it->second == counters) owners_.erase(it);
  }
}

std::shared_ptr<OwnerCounters> OwnerRegistry::Find(const std::string& owner) {
  absl::MutexLock lock(&mu_);
  auto it = owners_.find(owner);
  return it == owners_.end() ? nullptr : it->second;
}

size_t OwnerRegistry::OwnerCount() {
  absl::MutexLock lock(&mu_);
  return owners_.size();
}

}  // namespace table_internal
}  // namespace taala
