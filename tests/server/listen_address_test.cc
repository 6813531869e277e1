// The loopback check that decides whether taalad may listen without
// --insecure_allow_remote: literal loopback addresses only, and "localhost"
// only when every address it resolves to is loopback (issue 12).

#include "server/listen_address.h"

#include "gtest/gtest.h"

namespace taala {
namespace {

TEST(IsLoopbackTest, LiteralLoopbackAddressesAreLoopback) {
  EXPECT_TRUE(IsLoopback("127.0.0.1:7070"));
  EXPECT_TRUE(IsLoopback("127.5.6.7:1"));
  EXPECT_TRUE(IsLoopback("127.255.255.255:1"));
  EXPECT_TRUE(IsLoopback("[::1]:7070"));
  EXPECT_TRUE(IsLoopback("unix:/run/taala/taalad.sock"));
}

TEST(IsLoopbackTest, HostNamesThatLookLikeLoopbackAreRefused) {
  EXPECT_FALSE(IsLoopback("127.evil.example:7070"));
  EXPECT_FALSE(IsLoopback("127.0.0.1.evil.example:7070"));
  EXPECT_FALSE(IsLoopback("127.0.0.1.nip.io:7070"));
  EXPECT_FALSE(IsLoopback("127.1:7070"));  // Not a dotted quad.
  EXPECT_FALSE(IsLoopback("localhost.evil.example:7070"));
  EXPECT_FALSE(IsLoopback("[::ffff:127.0.0.1]:7070"));
}

TEST(IsLoopbackTest, OtherAddressesAreNotLoopback) {
  EXPECT_FALSE(IsLoopback("0.0.0.0:7070"));
  EXPECT_FALSE(IsLoopback("10.0.0.1:7070"));
  EXPECT_FALSE(IsLoopback("128.0.0.1:7070"));
  EXPECT_FALSE(IsLoopback("[::]:7070"));
  EXPECT_FALSE(IsLoopback("[::2]:7070"));
  EXPECT_FALSE(IsLoopback(":7070"));
  EXPECT_FALSE(IsLoopback("7070"));
}

TEST(IsLoopbackTest, LocalhostIsLoopbackOnlyIfAllItsAddressesAre) {
  // The check is getaddrinfo's answer, not the name.
  EXPECT_EQ(IsLoopback("localhost:7070"),
            HostResolvesOnlyToLoopback("localhost"));
  // On a machine with the usual /etc/hosts, localhost is loopback.
  EXPECT_TRUE(HostResolvesOnlyToLoopback("localhost"));
  EXPECT_TRUE(HostResolvesOnlyToLoopback("127.0.0.1"));
  EXPECT_TRUE(HostResolvesOnlyToLoopback("::1"));
  EXPECT_FALSE(HostResolvesOnlyToLoopback("10.1.2.3"));
}

}  // namespace
TEST(BoundAddressTest, PortOfTheBindOrTheUnixPath) {
  EXPECT_EQ(BoundAddress("127.0.0.1:0", 41234), "127.0.0.1:41234");
  EXPECT_EQ(BoundAddress("[::1]:7070", 7070), "[::1]:7070");
  EXPECT_EQ(BoundAddress("unix:/run/taala/taalad.sock", 1),
            "unix:/run/taala/taalad.sock");
}

}  // namespace taala
