#include "server/core/watch_hub.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/core/check.h"

namespace taala {

WatchHub::WatchHub(TransitionLog* inner, size_t capacity)
    : inner_(inner), capacity_(capacity) {
  TAALA_CHECK(capacity > 0);
  absl::MutexLock lock(&mu_);
  ring_.resize(capacity_);
  floor_lsn_ = inner_->LastLsn();
  last_logged_ = floor_lsn_;
  last_key_lsn_ = floor_lsn_;
}

void WatchHub::Seed(const std::deque<Transition>& replayed, uint64_t floor,
                    const DurableState& state) {
  absl::flat_hash_map<uint64_t, std::string> names;
  for (const auto& [id, session] : state.sessions) {
    names[id] = session.client_name;
  }
  for (const Transition& t : replayed) {
    if (t.type == TransitionType::kSessionCreated) {
      names[t.session_id] = t.client_name;
    }
  }
  absl::MutexLock lock(&mu_);
  TAALA_CHECK(end_ == 0 && floor <= floor_lsn_);
  floor_lsn_ = floor;
  last_key_lsn_ = floor;
  for (const Transition& t : replayed) {
    if (!IsWatched(t) || IsObserverOnly(t.type)) continue;
    auto r = std::make_shared<WatchRecord>(ToWatchRecord(t));
    r->lsn = t.lsn;
    if (t.type == TransitionType::kGrantMade) r->token = t.lsn;
    if (auto it = names.find(t.session_id); it != names.end()) {
      r->client_name = it->second;
    }
    RecordPtr dropped;
    PushLocked(std::move(r), &dropped);
    last_key_lsn_ = std::max(last_key_lsn_, t.lsn);
  }
}

uint64_t WatchHub::Append(const Transition& t) {
  // Built before the mutex: under it only the LSN is set and the pointer
  // moved into the ring.
  std::shared_ptr<WatchRecord> r;
  if (IsWatched(t)) r = std::make_shared<WatchRecord>(ToWatchRecord(t));
  RecordPtr dropped;  // Freed after the mutex.
  absl::MutexLock lock(&mu_);
  const uint64_t lsn = inner_->Append(t);
  last_logged_ = lsn;
  if (r != nullptr) {
    r->lsn = lsn;
    if (t.type == TransitionType::kGrantMade) r->token = lsn;  // transition.h
    PushLocked(std::move(r), &dropped);
    last_key_lsn_ = lsn;
  }
  return lsn;
}

void WatchHub::Observe(const Transition& t) {
  if (!IsWatched(t)) return;
  auto r = std::make_shared<WatchRecord>(ToWatchRecord(t));
  RecordPtr dropped;
  absl::MutexLock lock(&mu_);
  r->after_lsn = last_logged_;
  PushLocked(std::move(r), &dropped);
}

void WatchHub::PushLocked(RecordPtr r, RecordPtr* dropped) {
  RecordPtr& slot = ring_[end_ % capacity_];
  if (slot != nullptr && !slot->live_only()) floor_lsn_ = slot->lsn;
  *dropped = std::move(slot);
  slot = std::move(r);
  ++end_;
}

WatchHub::Mark WatchHub::Now() const {
  absl::MutexLock lock(&mu_);
  return Mark{end_, last_logged_};
}

std::vector<WatchHub::RecordPtr> WatchHub::Read(uint64_t position, size_t max,
                                                uint64_t* first) const {
  std::vector<RecordPtr> out;
  absl::MutexLock lock(&mu_);
  const uint64_t oldest = end_ > capacity_ ? end_ - capacity_ : 0;
  *first = oldest;
  for (uint64_t p = std::max(position, oldest); p < end_ && out.size() < max;
       ++p) {
    out.push_back(ring_[p % capacity_]);
  }
  return out;
}

absl::StatusOr<uint64_t> WatchHub::ResumePosition(uint64_t after_lsn) const {
  absl::MutexLock lock(&mu_);
  if (after_lsn > inner_->LastLsn()) {
    return absl::OutOfRangeError(absl::StrCat(
        "after_lsn ", after_lsn, " is ahead of the log (last LSN ",
        inner_->LastLsn(), "): watch again with after_lsn 0"));
  }
  if (after_lsn < floor_lsn_) {
    return absl::OutOfRangeError(absl::StrCat(
        "after_lsn ", after_lsn, " is compacted: the oldest LSN a watch may "
        "resume after is ", floor_lsn_, "; watch again with after_lsn 0"));
  }
  // The ring is in LSN order: find the first logged record above it.
  const uint64_t oldest = end_ > capacity_ ? end_ - capacity_ : 0;
  uint64_t lo = oldest, hi = end_;
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (ring_[mid % capacity_]->order_lsn() <= after_lsn) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

uint64_t WatchHub::last_key_lsn() const {
  absl::MutexLock lock(&mu_);
  return last_key_lsn_;
}

uint64_t WatchHub::floor_lsn() const {
  absl::MutexLock lock(&mu_);
  return floor_lsn_;
}

void WatchHub::WaitFor(uint64_t position, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  const uint64_t kicks = kicks_;
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return end_ > position || kicks_ != kicks;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
}

void WatchHub::Kick() {
  absl::MutexLock lock(&mu_);
  ++kicks_;
}

}  // namespace taala
