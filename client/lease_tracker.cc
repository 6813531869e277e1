#include "client/lease_tracker.h"

#include <algorithm>

namespace taala {

LeaseTracker::LeaseTracker(absl::Duration ttl, absl::Time created_at)
    : ttl_(ttl), confirmed_until_(created_at + ttl) {}

void LeaseTracker::StartStream() {
  acked_on_stream_ = false;
  sent_.clear();
}

uint64_t LeaseTracker::RecordSent(absl::Time now) {
  sent_.push_back(Sent{++last_sequence_, now});
  return last_sequence_;
}

void LeaseTracker::RecordAck(uint64_t request_sequence) {
  acked_on_stream_ = true;
  if (request_sequence == 0 && !sent_.empty()) {
    request_sequence = sent_.front().sequence;  // An older server.
  }
  while (!sent_.empty() && sent_.front().sequence <= request_sequence) {
    // The server renewed the lease no earlier than this request left.
    confirmed_until_ = std::max(confirmed_until_, sent_.front().at + ttl_);
    sent_.pop_front();
  }
}

absl::Duration LeaseTracker::NextWait(absl::Time now) const {
  return std::min(ttl_ / 3, confirmed_until_ - now);
}

}  // namespace taala
