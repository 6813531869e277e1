#include "server/core/key.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::StatusIs;
using ::testing::HasSubstr;

const KeyLimits kLimits;

TEST(ValidateKeyTest, AcceptsPathsOfNonEmptySegments) {
  EXPECT_OK(ValidateKey("a", kLimits));
  EXPECT_OK(ValidateKey("payments/recon/batch-17", kLimits));
  EXPECT_OK(ValidateKey("ताला/कुंजी", kLimits));
  EXPECT_OK(ValidateKey(std::string(1024, 'k'), kLimits));
}

TEST(ValidateKeyTest, RefusesEmptyKey) {
  EXPECT_THAT(ValidateKey("", kLimits),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("key: must not be empty")));
}

TEST(ValidateKeyTest, RefusesEmptySegments) {
  for (const char* key : {"/a", "a/", "a//b", "/"}) {
    EXPECT_THAT(ValidateKey(key, kLimits),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("empty path segment")))
        << key;
  }
}

TEST(ValidateKeyTest, RefusesTooLongKey) {
  EXPECT_THAT(ValidateKey(std::string(1025, 'k'), kLimits),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("1025 bytes exceeds the limit of 1024")));
}

TEST(ValidateKeyTest, RefusesTooManySegments) {
  std::string key = "s";
  for (int i = 0; i < 32; ++i) key += "/s";  // 33 segments.
  EXPECT_THAT(ValidateKey(key, kLimits),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("33 segments exceeds the limit of 32")));
}

TEST(ValidateKeyTest, RefusesInvalidUtf8) {
  for (const char* key : {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80",
                          "\xf4\x90\x80\x80"}) {
    EXPECT_THAT(ValidateKey(key, kLimits),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("not valid UTF-8")))
        << key;
  }
}

TEST(ValidateKeyTest, RefusesControlCharacters) {
  EXPECT_THAT(ValidateKey(std::string("a\0b", 3), kLimits),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("control character")));
  EXPECT_THAT(ValidateKey("a\nb", kLimits),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ValidateKeyTest, RefusesC1ControlCharactersNamingThem) {
  // U+0085 NEXT LINE and U+009B (a one-byte CSI to some terminals).
  EXPECT_THAT(ValidateKey("nel/a\xc2\x85" "b", kLimits),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("key \"nel/a\\u0085b\": control character "
                                 "U+0085 at byte 5")));
  EXPECT_THAT(ValidateKey("csi/\xc2\x9b" "2J", kLimits),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("U+009B")));
  // The characters just outside C1 are fine: U+00A0 and '~'.
  EXPECT_TRUE(ValidateKey("nbsp/a\xc2\xa0" "b~", kLimits).ok());
  // A C0 character is escaped in the message, never quoted raw.
  EXPECT_THAT(ValidateKey("a\x1b[2J", kLimits),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("key \"a\\x1b[2J\": control character "
                                 "U+001B at byte 1")));
}

// A key that may already exist (restored from an earlier release, which
// took C1) is named with every check but the control characters.
TEST(ValidateExistingKeyTest, TakesControlCharactersButChecksTheRest) {
  EXPECT_TRUE(ValidateExistingKey("jobs/a\xc2\x85" "b", kLimits).ok());
  EXPECT_TRUE(ValidateExistingKey("a\x1b[2J", kLimits).ok());
  EXPECT_THAT(ValidateExistingKey("", kLimits),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateExistingKey("a//\xc2\x85", kLimits),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("key \"a//\\u0085\": empty path segment")));
  EXPECT_THAT(ValidateExistingKey("bad\xff", kLimits),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not valid UTF-8")));
  EXPECT_THAT(ValidateExistingKey(std::string(kLimits.max_bytes + 1, 'k'),
                                  kLimits),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(EscapeControlTest, KeepsPrintableUtf8AndEscapesTheRest) {
  EXPECT_EQ(EscapeControl("caf\xc3\xa9/\xe6\x97\xa5"),
            "caf\xc3\xa9/\xe6\x97\xa5");
  EXPECT_EQ(EscapeControl("a\nb\r\tc"), "a\\nb\\r\\tc");
  EXPECT_EQ(EscapeControl("\x1b[2J\x7f"), "\\x1b[2J\\x7f");
  EXPECT_EQ(EscapeControl("x\xc2\x85y"), "x\\u0085y");
  EXPECT_EQ(EscapeControl("q\"b\\"), "q\\\"b\\\\");
  EXPECT_EQ(EscapeControl("bad\xff\x85"), "bad\\xff\\x85");
}

TEST(FirstSegmentTest, IsThePartBeforeTheFirstSlash) {
  EXPECT_EQ(FirstSegment("a/b/c"), "a");
  EXPECT_EQ(FirstSegment("flat"), "flat");
}

// Issue 8 item 7: AcquireAll's global order.
TEST(KeyPathLessTest, OrdersSegmentBySegmentAncestorsFirstSubtreesContiguous) {
  // Bytewise: "a" < "a-x" < "a.b/c" < "a/b" splits a's subtree.
  const std::vector<std::string> want = {"a",     "a/b",   "a/b/c", "a/b-c",
                                         "a/b0",  "a-x",   "a.b/c", "ab",
                                         "b",     "\xc3\xa9"};
  std::vector<std::string> got = want;
  std::reverse(got.begin(), got.end());
  std::sort(got.begin(), got.end(), KeyPathLess);
  EXPECT_EQ(got, want);
  for (const std::string& k : want) EXPECT_FALSE(KeyPathLess(k, k)) << k;
  EXPECT_TRUE(KeyPathLess("a/b", "a-x"));
  EXPECT_FALSE(KeyPathLess("a-x", "a/b"));
}

}  // namespace
}  // namespace taala
