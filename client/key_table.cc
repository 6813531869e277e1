#include "client/key_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace taala {

absl::StatusOr<KeyTable::Entered> KeyTable::Enter(Owner owner,
                                                  const std::string& key,
                                                  bool joinable,
                                                  absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  ++inside_;
  bool waiting = false;
  auto stop_waiting = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (waiting && --waiting_[key] == 0) waiting_.erase(key);
    waiting = false;
  };
  while (true) {
    if (has_ended_) {
      stop_waiting();
      --inside_;
      changed_.SignalAll();
      return ended_;
    }
    auto it = keys_.find(key);
    if (it == keys_.end()) {
      stop_waiting();
      Entry& e = keys_[key];
      e.joinable = joinable;
      return Entered{std::nullopt, unsure_.contains(key)};  // Claimed.
    }
    Entry& e = it->second;
    auto w = waiting_.find(key);
    const int others_waiting =
        (w == waiting_.end() ? 0 : w->second) - (waiting ? 1 : 0);
    if (joinable && e.joinable && !e.busy && e.grant.has_value() &&
        others_waiting == 0) {
      stop_waiting();
      e.owners.push_back(owner);
      --inside_;
      changed_.SignalAll();
      return Entered{e.grant, false};
    }
    if (absl::Now() >= deadline) {
      stop_waiting();
      --inside_;
      changed_.SignalAll();
      return absl::DeadlineExceededError(absl::StrCat(
          "key \"", key, "\" is in use by another taala::Lock of this session"));
    }
    if (!waiting) {
      ++waiting_[key];
      waiting = true;
    }
    changed_.WaitWithDeadline(&mu_, deadline);
  }
}

void KeyTable::Granted(Owner owner, const std::string& key,
                       const LockGrant& grant) {
  absl::MutexLock lock(&mu_);
  Entry& e = keys_[key];
  e.busy = false;
  e.owners = {owner};
  e.grant = grant;
  unsure_.erase(key);
  --inside_;
  changed_.SignalAll();
}

void KeyTable::NotGranted(const std::string& key, bool outcome_unknown) {
  absl::MutexLock lock(&mu_);
  keys_.erase(key);
  if (outcome_unknown) {
    unsure_.insert(key);
  } else {
    unsure_.erase(key);
  }
  --inside_;
  changed_.SignalAll();
}

KeyTable::Left KeyTable::Leave(Owner owner, const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = keys_.find(key);
  if (it == keys_.end()) return Left::kNotOwner;
  Entry& e = it->second;
  auto me = std::find(e.owners.begin(), e.owners.end(), owner);
  if (e.busy || me == e.owners.end()) return Left::kNotOwner;
  e.owners.erase(me);
  if (!e.owners.empty()) return Left::kShared;
  e.busy = true;
  ++inside_;
  return Left::kLast;
}

void KeyTable::Released(const std::string& key, bool outcome_unknown) {
  NotGranted(key, outcome_unknown);  // The key is free again either way.
}

void KeyTable::Revoked(const std::string& key, uint64_t token) {
  absl::MutexLock lock(&mu_);
  auto it = keys_.find(key);
  if (it == keys_.end()) return;
  const Entry& e = it->second;
  if (e.busy || !e.grant.has_value() || e.grant->fencing_token != token) {
    return;
  }
  keys_.erase(it);  // Its owners now hold a revoked grant: kNotOwner.
  changed_.SignalAll();
}

bool KeyTable::InUse(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  return keys_.contains(key);
}

void KeyTable::End(absl::Status why) {
  absl::MutexLock lock(&mu_);
  if (!has_ended_) {
    has_ended_ = true;
    ended_ = std::move(why);
  }
  changed_.SignalAll();
}

void KeyTable::AwaitIdle() {
  absl::MutexLock lock(&mu_);
  while (inside_ > 0) changed_.Wait(&mu_);
}

}  // namespace taala
