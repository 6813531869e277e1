#ifndef TAALA_CLIENT_LEASE_TRACKER_H_
#define TAALA_CLIENT_LEASE_TRACKER_H_

#include <cstddef>
#include <cstdint>
#include <deque>

#include "absl/time/time.h"

namespace taala {

// The client's view of a session's lease: from the send times of keepalives
// and the acknowledgements that come back, the instant until which the server
// surely holds the lease ("confirmed until"). Pure arithmetic on instants of
// the steady clock (SteadyNow()): no gRPC, no clock of its own, no threads.
//
// The rule: the server renews a lease for a whole TTL no earlier than the
// renewal request left the client, so an acknowledged request sent at `t`
// proves the lease until `t + ttl`. Each acknowledgement echoes the sequence
// number of the request it answers; the server may coalesce acks, so one
// answers every request up to the one it echoes. (An older server echoes
// nothing, 0: its acks are paired with requests oldest first.)
//
// Thread safety: none; the owner serializes every call (KeepAliveLoop holds
// its mutex).
class LeaseTracker {
 public:
  // `created_at`: when the CreateSession request that opened the lease left
  // the client; `ttl`: the lease as the server granted it.
  LeaseTracker(absl::Duration ttl, absl::Time created_at);

  // A new KeepAlive stream: requests sent on an earlier stream will never be
  // acknowledged, and this stream has acknowledged nothing yet.
  void StartStream();
  // A renewal request leaves now. Returns its request sequence number.
  uint64_t RecordSent(absl::Time now);
  // The server acknowledged the renewal numbered `request_sequence` (and so
  // every earlier one); 0: the oldest one still unacknowledged. An
  // acknowledgement of no request outstanding changes nothing but
  // acked_on_stream().
  void RecordAck(uint64_t request_sequence = 0);

  // The server holds the lease at least until this instant.
  absl::Time confirmed_until() const { return confirmed_until_; }
  // True once no renewal is confirmed for `now`.
  bool Expired(absl::Time now) const { return now >= confirmed_until_; }
  // How long the keepalive sender may sleep after sending at `now`: a third
  // of the TTL, but never past the confirmed end (to notice it).
  absl::Duration NextWait(absl::Time now) const;
  // True if the current stream acknowledged at least one request.
  bool acked_on_stream() const { return acked_on_stream_; }
  // Requests sent on the current stream not yet acknowledged.
  std::size_t outstanding() const { return sent_.size(); }

 private:
  const absl::Duration ttl_;
  absl::Time confirmed_until_;
  bool acked_on_stream_ = false;
  struct Sent {
    uint64_t sequence;
    absl::Time at;
  };
  // Requests not yet acknowledged, oldest first.
  std::deque<Sent> sent_;
  uint64_t last_sequence_ = 0;
};

}  // namespace taala

#endif  // TAALA_CLIENT_LEASE_TRACKER_H_
