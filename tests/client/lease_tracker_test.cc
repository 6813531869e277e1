#include "client/lease_tracker.h"

#include "gtest/gtest.h"

namespace taala {
namespace {

const absl::Time kT0 = absl::UnixEpoch() + absl::Hours(1);
const absl::Duration kTtl = absl::Seconds(9);

TEST(LeaseTrackerTest, NewLeaseIsConfirmedForATtlFromItsCreateRequest) {
  LeaseTracker lease(kTtl, kT0);
  EXPECT_EQ(lease.confirmed_until(), kT0 + kTtl);
  EXPECT_FALSE(lease.Expired(kT0 + kTtl - absl::Nanoseconds(1)));
  EXPECT_TRUE(lease.Expired(kT0 + kTtl));
  EXPECT_FALSE(lease.acked_on_stream());
}

TEST(LeaseTrackerTest, AckExtendsFromTheSendTimeNotTheAckTime) {
  LeaseTracker lease(kTtl, kT0);
  lease.StartStream();
  lease.RecordSent(kT0 + absl::Seconds(3));
  // However late the answer comes, the lease runs from the request's send.
  lease.RecordAck();
  EXPECT_EQ(lease.confirmed_until(), kT0 + absl::Seconds(3) + kTtl);
  EXPECT_TRUE(lease.acked_on_stream());
  EXPECT_EQ(lease.outstanding(), 0u);
}

TEST(LeaseTrackerTest, AcksArePairedWithRequestsOldestFirst) {
  LeaseTracker lease(kTtl, kT0);
  lease.StartStream();
  lease.RecordSent(kT0 + absl::Seconds(1));
  lease.RecordSent(kT0 + absl::Seconds(4));
  EXPECT_EQ(lease.outstanding(), 2u);
  lease.RecordAck();
  EXPECT_EQ(lease.confirmed_until(), kT0 + absl::Seconds(1) + kTtl);
  lease.RecordAck();
  EXPECT_EQ(lease.confirmed_until(), kT0 + absl::Seconds(4) + kTtl);
}

TEST(LeaseTrackerTest, ConfirmedUntilNeverMovesBack) {
  // An ack paired with a request older than the one that set the current
  // end does not shorten the lease.
  LeaseTracker lease(kTtl, kT0 + absl::Seconds(5));
  lease.StartStream();
  lease.RecordSent(kT0);
  lease.RecordAck();
  EXPECT_EQ(lease.confirmed_until(), kT0 + absl::Seconds(5) + kTtl);
}

TEST(LeaseTrackerTest, AckWithNothingOutstandingOnlyMarksTheStream) {
  LeaseTracker lease(kTtl, kT0);
  lease.StartStream();
  lease.RecordAck();
  EXPECT_TRUE(lease.acked_on_stream());
  EXPECT_EQ(lease.confirmed_until(), kT0 + kTtl);
}

TEST(LeaseTrackerTest, NewStreamForgetsUnansweredRequestsButNotTheLease) {
  LeaseTracker lease(kTtl, kT0);
  lease.StartStream();
  lease.RecordSent(kT0 + absl::Seconds(1));
  lease.RecordAck();
  lease.RecordSent(kT0 + absl::Seconds(4));  // Never answered.
  lease.StartStream();
  EXPECT_FALSE(lease.acked_on_stream());
  EXPECT_EQ(lease.outstanding(), 0u);
  EXPECT_EQ(lease.confirmed_until(), kT0 + absl::Seconds(1) + kTtl);
  // The first ack on the new stream answers the new stream's request.
  lease.RecordSent(kT0 + absl::Seconds(6));
  lease.RecordAck();
  EXPECT_EQ(lease.confirmed_until(), kT0 + absl::Seconds(6) + kTtl);
}

TEST(LeaseTrackerTest, NextWaitIsAThirdOfTheTtlButNotPastTheConfirmedEnd) {
  LeaseTracker lease(kTtl, kT0);
  EXPECT_EQ(lease.NextWait(kT0), absl::Seconds(3));
  EXPECT_EQ(lease.NextWait(kT0 + absl::Seconds(7)), absl::Seconds(2));
}

TEST(LeaseTrackerTest,
     KeepaliveAcksArePairedByEcho_CoalescedAcksKeepTheConfirmedLease) {
  // The server coalesced the acks of three requests into one, which echoes
  // the newest: the lease is confirmed from that request's send time, and
  // the older requests are answered by it too.
  LeaseTracker lease(kTtl, kT0);
  lease.StartStream();
  lease.RecordSent(kT0 + absl::Seconds(1));
  lease.RecordSent(kT0 + absl::Seconds(4));
  const uint64_t third = lease.RecordSent(kT0 + absl::Seconds(7));
  lease.RecordAck(third);
  EXPECT_EQ(lease.confirmed_until(), kT0 + absl::Seconds(7) + kTtl);
  EXPECT_EQ(lease.outstanding(), 0u);
  // The next ack answers the next request, not a stale older one.
  const uint64_t fourth = lease.RecordSent(kT0 + absl::Seconds(10));
  lease.RecordAck(fourth);
  EXPECT_EQ(lease.confirmed_until(), kT0 + absl::Seconds(10) + kTtl);
  EXPECT_FALSE(lease.Expired(kT0 + absl::Seconds(18)));
}

}  // namespace
}  // namespace taala
