// --auth_tokens_file's parser and HashToken (server/auth/token_file.h).

#include "server/auth/token_file.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taala::auth {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

TEST(HashTokenTest, IsTheLowercaseHexSha256) {
  // FIPS 180-2's test vector.
  EXPECT_EQ(HashToken("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HashToken(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

std::string Line(const std::string& identity, const std::string& token) {
  return absl::StrCat(identity, " sha256:", HashToken(token), "\n");
}

TEST(TokenFileTest, MapsTokensToIdentities) {
  const std::string text =
      absl::StrCat("# operators\n\n", Line("alice", "a-secret"),
                   "   ", Line("bob", "b-secret"),
                   // Rotation: two tokens of one identity.
                   Line("alice", "a-new-secret"), "\t# trailing comment\r\n");
  absl::StatusOr<TokenFile> file = TokenFile::Parse(text);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->size(), 3u);
  EXPECT_THAT(file->IdentityFor("a-secret"), Optional(std::string("alice")));
  EXPECT_THAT(file->IdentityFor("a-new-secret"),
              Optional(std::string("alice")));
  EXPECT_THAT(file->IdentityFor("b-secret"), Optional(std::string("bob")));
  EXPECT_EQ(file->IdentityFor("c-secret"), std::nullopt);
  EXPECT_EQ(file->IdentityFor(""), std::nullopt);
  // The hash is not a token: knowing the file gives nobody a credential.
  EXPECT_EQ(file->IdentityFor(HashToken("a-secret")), std::nullopt);
}

TEST(TokenFileTest, EmptyFileHasNoTokens) {
  absl::StatusOr<TokenFile> file = TokenFile::Parse("# nobody yet\n");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->size(), 0u);
}

void ExpectRefused(const std::string& text, const std::string& what) {
  absl::StatusOr<TokenFile> file = TokenFile::Parse(text);
  ASSERT_FALSE(file.ok()) << text;
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(file.status().message(), HasSubstr(what)) << text;
}

TEST(TokenFileTest, RefusesTheWholeFileNamingTheLine) {
  const std::string good = Line("alice", "a");
  ExpectRefused(good + "bob\n", "line 2: expected");
  ExpectRefused(good + "bob sha256:abc extra\n", "line 2: expected");
  ExpectRefused(good + "# c\n" + "bob md5:" + HashToken("b") + "\n",
                "line 3: the hash must start with \"sha256:\"");
  ExpectRefused(good + "bob sha256:" + HashToken("b").substr(1) + "\n",
                "line 2: the hash must be 64 lowercase hex digits");
  std::string upper = HashToken("b");
  for (char& c : upper) c = static_cast<char>(toupper(c));
  ExpectRefused("bob sha256:" + upper + "\n", "line 1: the hash must be 64");
  ExpectRefused(good + Line("bob", "a"), "line 2: this hash is already");
  ExpectRefused(good + Line("alice", "a"), "line 2: this hash is already");
  ExpectRefused(Line(std::string(257, 'x'), "b"),
                "line 1: the identity has 257 bytes; at most 256");
  ExpectRefused(Line("b\x01ob", "b"), "line 1: the identity may hold only");
  ExpectRefused(Line("b\xc3\xa9", "b"), "line 1: the identity may hold only");
  EXPECT_TRUE(TokenFile::Parse(Line(std::string(256, 'x'), "b")).ok());
}

// The names taalad gives (anonymous callers, its own calls) are no token's:
// such a token would act as every anonymous caller of an address.
TEST(TokenFileTest, RefusesTheReservedIdentities) {
  const std::string good = Line("alice", "a");
  ExpectRefused(good + Line("anonymous@127.0.0.1", "b"),
                "line 2: identity \"anonymous@127.0.0.1\" is reserved");
  ExpectRefused(Line("anonymous@", "b"), "line 1: identity \"anonymous@\"");
  ExpectRefused(Line("taalad", "b"), "line 1: identity \"taalad\" is reserved");
  // Only the exact prefix and name: look-alikes are ordinary identities.
  EXPECT_TRUE(TokenFile::Parse(Line("anonymous", "b") + Line("taalad2", "c") +
                               Line("Anonymous@x", "d"))
                  .ok());
}

TEST(TokenFileTest, BoundsTheFileSize) {
  ExpectRefused(std::string((4 << 20) + 1, '#'), "at most");
}

}  // namespace
}  // namespace taala::auth
