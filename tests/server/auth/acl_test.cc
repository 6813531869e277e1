// The --acl_file parser and its decisions (server/auth/acl.h).

#include "server/auth/acl.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taala {
namespace auth {
namespace {

using ::testing::HasSubstr;

Identity Named(const std::string& name) {
  Identity id;
  id.name = name;
  return id;
}

Acl MustParse(const std::string& text) {
  absl::StatusOr<Acl> acl = Acl::Parse(text);
  EXPECT_TRUE(acl.ok()) << acl.status();
  return acl.ok() ? *std::move(acl) : Acl();
}

std::string ErrorOf(const std::string& text) {
  absl::StatusOr<Acl> acl = Acl::Parse(text);
  EXPECT_FALSE(acl.ok()) << text;
  if (acl.ok()) return "";
  EXPECT_EQ(acl.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(acl.status().message());
}

TEST(AclTest, IdentityRuleGrantsByPrefix) {
  const Acl acl = MustParse("allow alice payments/ lock\n");
  EXPECT_EQ(acl.rule_count(), 1u);
  EXPECT_TRUE(acl.Allows(Named("alice"), Permission::kLock, "payments/42"));
  EXPECT_TRUE(acl.Allows(Named("alice"), Permission::kLock, "payments/"));
  EXPECT_FALSE(acl.Allows(Named("alice"), Permission::kLock, "payment"));
  EXPECT_FALSE(acl.Allows(Named("alice"), Permission::kLock, "jobs/1"));
  EXPECT_FALSE(acl.Allows(Named("alice"), Permission::kRead, "payments/42"));
  EXPECT_FALSE(acl.Allows(Named("bob"), Permission::kLock, "payments/42"));
  // A listing of a wider prefix is not covered by a narrower rule.
  EXPECT_FALSE(acl.Allows(Named("alice"), Permission::kLock, "pay"));
}

TEST(AclTest, DefaultDenyAndEmptyFile) {
  for (const char* text : {"", "# nothing\n\n   \n"}) {
    const Acl acl = MustParse(text);
    EXPECT_EQ(acl.rule_count(), 0u);
    for (Permission p :
         {Permission::kLock, Permission::kRead, Permission::kAdmin}) {
      EXPECT_FALSE(acl.Allows(Named("alice"), p, "k"));
      EXPECT_FALSE(acl.AllowsAnywhere(Named("alice"), p));
      EXPECT_FALSE(acl.AllowsEverywhere(Named("alice"), p));
    }
  }
}

TEST(AclTest, RolesExpand) {
  const Acl acl = MustParse(
      "allow app \"\" client\n"
      "allow ops \"\" admin\n");
  EXPECT_TRUE(acl.Allows(Named("app"), Permission::kLock, "x"));
  EXPECT_TRUE(acl.Allows(Named("app"), Permission::kRead, "x"));
  EXPECT_FALSE(acl.Allows(Named("app"), Permission::kAdmin, "x"));
  EXPECT_TRUE(acl.AllowsEverywhere(Named("ops"), Permission::kLock));
  EXPECT_TRUE(acl.AllowsEverywhere(Named("ops"), Permission::kRead));
  EXPECT_TRUE(acl.AllowsEverywhere(Named("ops"), Permission::kAdmin));
}

TEST(AclTest, SeveralPermissionsOnOneLineAndAcrossLines) {
  const Acl acl = MustParse(
      "allow alice a/ lock\n"
      "allow alice a/ read   # the same prefix again: added\n"
      "allow alice b/ read lock\n");
  EXPECT_EQ(acl.rule_count(), 3u);
  EXPECT_TRUE(acl.Allows(Named("alice"), Permission::kLock, "a/1"));
  EXPECT_TRUE(acl.Allows(Named("alice"), Permission::kRead, "a/1"));
  EXPECT_TRUE(acl.Allows(Named("alice"), Permission::kRead, "b/1"));
  EXPECT_TRUE(acl.Allows(Named("alice"), Permission::kLock, "b/1"));
  EXPECT_FALSE(acl.Allows(Named("alice"), Permission::kAdmin, "b/1"));
}

TEST(AclTest, GroupsAndEveryone) {
  const Acl acl = MustParse(
      "allow group:ops \"\" admin   # used above its definition\n"
      "group ops carol dave\n"
      "group readers erin carol\n"
      "allow group:readers metrics/ read\n"
      "allow * public/ client\n");
  EXPECT_TRUE(acl.Allows(Named("carol"), Permission::kAdmin, "x"));
  EXPECT_TRUE(acl.Allows(Named("dave"), Permission::kAdmin, "x"));
  EXPECT_FALSE(acl.Allows(Named("erin"), Permission::kAdmin, "x"));
  EXPECT_TRUE(acl.Allows(Named("erin"), Permission::kRead, "metrics/cpu"));
  EXPECT_FALSE(acl.Allows(Named("erin"), Permission::kRead, "other"));
  // `*` is everyone, anonymous callers included.
  Identity anon = Named("anonymous@127.0.0.1");
  anon.anonymous = true;
  EXPECT_TRUE(acl.Allows(anon, Permission::kLock, "public/x"));
  EXPECT_FALSE(acl.Allows(anon, Permission::kLock, "private/x"));
  EXPECT_TRUE(acl.AllowsAnywhere(anon, Permission::kRead));
  EXPECT_FALSE(acl.AllowsAnywhere(anon, Permission::kAdmin));
  EXPECT_FALSE(acl.AllowsEverywhere(anon, Permission::kRead));
  // A group name is not an identity.
  EXPECT_FALSE(acl.Allows(Named("ops"), Permission::kAdmin, "x"));
  EXPECT_FALSE(acl.Allows(Named("group:ops"), Permission::kAdmin, "x"));
}

TEST(AclTest, AnonymousLoopbackByName) {
  const Acl acl = MustParse("allow anonymous@127.0.0.1 jobs/ lock\n");
  EXPECT_TRUE(
      acl.Allows(Named("anonymous@127.0.0.1"), Permission::kLock, "jobs/a"));
  EXPECT_FALSE(
      acl.Allows(Named("anonymous@127.0.0.2"), Permission::kLock, "jobs/a"));
  EXPECT_TRUE(acl.AllowsAnywhere(Named("anonymous@127.0.0.1"),
                                 Permission::kLock));
}

TEST(AclTest, QuotedPrefixesAndIdentities) {
  const Acl ok = MustParse(
      "\xEF\xBB\xBF# a BOM at the start is skipped\n"
      "allow \"Alice Smith\" \"with space/\" lock\n"
      "allow bob \"q\\\"uote/\" read\n"
      "allow bob \"#hash\" read\n");
  EXPECT_TRUE(ok.Allows(Named("Alice Smith"), Permission::kLock,
                        "with space/1"));
  EXPECT_TRUE(ok.Allows(Named("bob"), Permission::kRead, "q\"uote/1"));
  EXPECT_TRUE(ok.Allows(Named("bob"), Permission::kRead, "#hash"));
}

TEST(AclTest, ErrorsNameTheLine) {
  EXPECT_EQ(ErrorOf("# ok\nallow alice a/ lok\n"),
            "line 2: unknown permission \"lok\" (want lock, read, admin or "
            "client)");
  EXPECT_EQ(ErrorOf("allow group:nobody a/ read\n"),
            "line 1: unknown group \"nobody\"");
  EXPECT_EQ(ErrorOf("\n\nallow alice \"a/ read\n"),
            "line 3: unterminated quoted word");
  EXPECT_THAT(ErrorOf("allow alice \"a\\n\" read\n"),
              HasSubstr("line 1: in a quoted word only"));
  EXPECT_THAT(ErrorOf("allow alice \"a\"b read\n"),
              HasSubstr("line 1: a quoted word must be followed"));
  EXPECT_THAT(ErrorOf("allow alice a\"b read\n"),
              HasSubstr("line 1: \"a\"b\": a bare word may not hold"));
  EXPECT_EQ(ErrorOf("allow alice a/\x1b[31m lock\n"),
            "line 1: control character U+001B");
  EXPECT_EQ(ErrorOf("allow alice a/\x7f lock\n"),
            "line 1: control character U+007F");
  EXPECT_EQ(ErrorOf("allow alice a/\xC2\x85 lock\n"),
            "line 1: control character U+0085");
  EXPECT_EQ(ErrorOf("allow alice a/\xff lock\n"), "line 1: not valid UTF-8");
  EXPECT_EQ(ErrorOf("deny alice a/ lock\n"),
            "line 1: unknown rule \"deny\" (want group or allow)");
  EXPECT_THAT(ErrorOf("allow alice a/\n"), HasSubstr("line 1: want: allow"));
  EXPECT_THAT(ErrorOf("group ops\n"), HasSubstr("line 1: want: group"));
  EXPECT_THAT(ErrorOf("group o:ps alice\n"), HasSubstr("line 1: group name"));
  EXPECT_EQ(ErrorOf("group ops a\ngroup ops b\n"),
            "line 2: group \"ops\" is already defined on line 1");
  EXPECT_THAT(ErrorOf("group ops group:x\n"),
              HasSubstr("line 1: \"group:x\" is not an identity"));
  EXPECT_THAT(ErrorOf("group ops *\n"),
              HasSubstr("line 1: \"*\" is not an identity"));
  EXPECT_EQ(ErrorOf("allow \"\" a/ lock\n"), "line 1: empty identity name");
}

TEST(AclTest, SizeLimits) {
  EXPECT_EQ(ErrorOf(absl::StrCat("allow alice ", std::string(5000, 'k'),
                                 " lock\n")),
            "line 1: 5017 bytes, at most 4096 per line");
  std::string many;
  for (int i = 0; i < kMaxAclLines; ++i) many += "# c\n";
  // kMaxAclLines lines and the empty one after the last newline.
  EXPECT_EQ(ErrorOf(many + "x"), "line 10001: more than 10000 lines (the limit)");
  std::string big;
  while (big.size() <= kMaxAclFileBytes) {
    big += absl::StrCat("# ", std::string(4000, 'c'), "\n");
  }
  EXPECT_THAT(ErrorOf(big), HasSubstr("bytes (the limit)"));
}

TEST(AclTest, HundredsOfRules) {
  std::string text;
  for (int i = 0; i < 300; ++i) {
    absl::StrAppend(&text, "allow user", i % 30, " p", i, "/ client\n");
  }
  const Acl acl = MustParse(text);
  EXPECT_EQ(acl.rule_count(), 300u);
  EXPECT_TRUE(acl.Allows(Named("user7"), Permission::kLock, "p37/x"));
  EXPECT_FALSE(acl.Allows(Named("user7"), Permission::kLock, "p38/x"));
}

}  // namespace
}  // namespace auth
}  // namespace taala
