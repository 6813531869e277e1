// Unit tests of taalactl's parts without gRPC: command line, JSON, tables.

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/tools/json_reader.h"
#include "tools/json_writer.h"
#include "tools/taalactl_args.h"
#include "tools/text_table.h"

namespace taala::tools {
namespace {

using ::taala::test::Json;
using ::taala::test::JsonReader;
using ::taala::test::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<Invocation> Parse(std::vector<std::string> args,
                                 const char* env = nullptr) {
  return ParseArgs(args, env);
}

TEST(ParseArgsTest, FlagsMayComeBeforeOrAfterTheSubcommand) {
  absl::StatusOr<Invocation> inv =
      Parse({"--endpoint", "h:1", "--json", "describe", "a/b"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->command, "describe");
  EXPECT_EQ(inv->endpoint, "h:1");
  EXPECT_TRUE(inv->json);
  EXPECT_EQ(inv->key, "a/b");

  inv = Parse({"list", "pay/", "--json", "--endpoint=h:2", "--limit=3"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->command, "list");
  EXPECT_EQ(inv->prefix, "pay/");
  EXPECT_EQ(inv->endpoint, "h:2");
  EXPECT_EQ(inv->limit, 3u);
}

TEST(ParseArgsTest, EndpointComesFromTheFlagThenTheEnvironmentThenDefault) {
  EXPECT_EQ(Parse({"health"})->endpoint, "127.0.0.1:7070");
  EXPECT_EQ(Parse({"health"}, "env:1")->endpoint, "env:1");
  EXPECT_EQ(Parse({"health"}, "")->endpoint, "127.0.0.1:7070");
  EXPECT_EQ(Parse({"--endpoint=flag:1", "health"}, "env:1")->endpoint,
            "flag:1");
}

TEST(ParseArgsTest, LockTakesOptionsKeyAndCommand) {
  absl::StatusOr<Invocation> inv = Parse(
      {"--wait", "500ms", "lock", "--ttl=2m", "k", "--", "sh", "-c", "x --y"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->command, "lock");
  EXPECT_EQ(inv->wait, absl::Milliseconds(500));
  EXPECT_EQ(inv->ttl, absl::Minutes(2));
  EXPECT_EQ(inv->key, "k");
  EXPECT_THAT(inv->argv, ElementsAre("sh", "-c", "x --y"));

  // Defaults: wait forever, 10 s lease.
  inv = Parse({"lock", "k", "--", "true"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->wait, absl::InfiniteDuration());
  EXPECT_EQ(inv->ttl, absl::Seconds(10));

  // Without "--", COMMAND starts at the first argument after KEY; its own
  // options and "--" are its own.
  inv = Parse({"lock", "--wait=0", "k", "git", "log", "--oneline", "--", "f"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->wait, absl::ZeroDuration());
  EXPECT_THAT(inv->argv, ElementsAre("git", "log", "--oneline", "--", "f"));

  // A "--" inside COMMAND after the first one is COMMAND's.
  inv = Parse({"lock", "k", "--", "cmd", "--", "--json"});
  ASSERT_OK(inv);
  EXPECT_FALSE(inv->json);
  EXPECT_THAT(inv->argv, ElementsAre("cmd", "--", "--json"));
}

TEST(ParseArgsTest, LockTakesSharedOrSemaphore) {
  absl::StatusOr<Invocation> inv = Parse({"lock", "--shared", "k", "true"});
  ASSERT_OK(inv);
  EXPECT_TRUE(inv->shared);
  EXPECT_EQ(inv->semaphore, 0u);
  EXPECT_THAT(inv->argv, ElementsAre("true"));

  inv = Parse({"--semaphore", "3", "lock", "k", "--", "true"});
  ASSERT_OK(inv);
  EXPECT_FALSE(inv->shared);
  EXPECT_EQ(inv->semaphore, 3u);
  inv = Parse({"lock", "--semaphore=4294967295", "k", "true"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->semaphore, 4294967295u);

  // Defaults: an exclusive lock.
  inv = Parse({"lock", "k", "true"});
  ASSERT_OK(inv);
  EXPECT_FALSE(inv->shared);
  EXPECT_EQ(inv->semaphore, 0u);
  // After KEY, --shared belongs to COMMAND.
  inv = Parse({"lock", "k", "cmd", "--shared"});
  ASSERT_OK(inv);
  EXPECT_FALSE(inv->shared);
  EXPECT_THAT(inv->argv, ElementsAre("cmd", "--shared"));
}

TEST(ParseArgsTest, HelpWins) {
  EXPECT_EQ(Parse({"--help"})->command, "help");
  EXPECT_EQ(Parse({"lock", "-h"})->command, "help");
  EXPECT_EQ(Parse({"help"})->command, "help");
  EXPECT_THAT(UsageText(), HasSubstr("taalactl"));
}

TEST(ParseArgsTest, UsageErrorsSayWhatIsWrong) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{}, "missing COMMAND"},
      {{"frobnicate"}, "unknown command \"frobnicate\""},
      {{"--bogus", "health"}, "unknown option --bogus"},
      {{"-x", "health"}, "unknown option -x"},
      {{"health", "--endpoint"}, "--endpoint needs a value"},
      {{"--json=yes", "health"}, "--json takes no value"},
      {{"lock"}, "missing KEY"},
      {{"lock", "k"}, "missing COMMAND"},
      {{"lock", "k", "--"}, "missing COMMAND"},
      {{"lock", "--wait", "soon", "k", "true"}, "not a duration"},
      {{"lock", "--wait", "-1s", "k", "true"}, "must not be negative"},
      {{"lock", "--ttl", "0", "k", "true"}, "must be positive"},
      {{"lock", "--ttl", "inf", "k", "true"}, "must be positive"},
      {{"--timeout", "0s", "health"}, "must be positive"},
      {{"describe"}, "exactly one KEY"},
      {{"describe", "a", "b"}, "exactly one KEY"},
      {{"list", "a", "b"}, "at most one PREFIX"},
      {{"list", "--limit", "-3"}, "--limit"},
      {{"sessions", "x"}, "takes no arguments"},
      {{"--wait", "1s", "describe", "k"}, "--wait is only for taalactl lock"},
      {{"--limit", "1", "sessions"}, "--limit is only for taalactl list"},
      {{"--endpoint=", "health"}, "must not be empty"},
      {{"lock", "--semaphore", "0", "k", "true"}, "not a positive number"},
      {{"lock", "--semaphore", "-2", "k", "true"}, "not a positive number"},
      {{"lock", "--semaphore", "x", "k", "true"}, "not a positive number"},
      {{"lock", "--semaphore", "4294967296", "k", "true"},
       "not a positive number"},
      {{"lock", "--semaphore"}, "--semaphore needs a value"},
      {{"lock", "--shared=yes", "k", "true"}, "--shared takes no value"},
      {{"lock", "--shared", "--semaphore=2", "k", "true"},
       "exclude each other"},
      {{"--shared", "describe", "k"}, "--shared is only for taalactl lock"},
      {{"list", "--semaphore=2"}, "--semaphore is only for taalactl lock"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Parse(c.args), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr(c.message)))
        << testing::PrintToString(c.args);
  }
}

TEST(JsonWriterTest, WritesNestedValuesWithCommas) {
  JsonWriter w;
  w.BeginObject()
      .Key("a").Int(-1)
      .Key("b").BeginArray().Uint(18446744073709551615u).Bool(true).Null()
      .BeginObject().EndObject().BeginArray().EndArray().EndArray()
      .Key("c").String("x")
      .EndObject();
  EXPECT_EQ(w.str(),
            R"({"a":-1,"b":[18446744073709551615,true,null,{},[]],"c":"x"})");
  EXPECT_TRUE(JsonReader::Parse(w.str()).has_value());
}

TEST(JsonWriterTest, EscapesStringsSoTheyReadBackUnchanged) {
  const std::string tricky =
      std::string("quote\" backslash\\ slash/ nl\n tab\t cr\r bell\x07 nul") +
      std::string(1, '\0') + " del\x7f é 日本 😀";
  EXPECT_EQ(JsonQuote("a\"b\\c\n\x01"), R"("a\"b\\c\n\u0001")");
  JsonWriter w;
  w.BeginObject().Key(tricky).String(tricky).EndObject();
  std::optional<Json> back = JsonReader::Parse(w.str());
  ASSERT_TRUE(back.has_value()) << w.str();
  EXPECT_EQ((*back)[tricky].text, tricky);
}

TEST(JsonWriterTest, IllFormedUtf8BecomesReplacementCharacters) {
  // A stray continuation byte, a truncated sequence, an overlong '/', a
  // surrogate.
  EXPECT_EQ(JsonQuote("a\x80z"), R"("a\ufffdz")");
  EXPECT_EQ(JsonQuote("a\xe6\x97"), R"("a\ufffd\ufffd")");
  EXPECT_EQ(JsonQuote("\xc0\xaf"), R"("\ufffd\ufffd")");
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");
  EXPECT_TRUE(JsonReader::Parse(JsonQuote("\xff\xfe")).has_value());
}

TEST(TextTableTest, AlignsColumnsByCodePoints) {
  TextTable t({"KEY", "CLIENT", "N"});
  t.AddRow({"a", "café", "1"});
  t.AddRow({"longer/key", "x", "22"});
  t.AddRow({"short"});  // Missing cells are empty.
  EXPECT_EQ(t.Render(),
            "KEY         CLIENT  N\n"
            "a           café    1\n"
            "longer/key  x       22\n"
            "short\n");
  EXPECT_EQ(t.rows(), 4u);
}

TEST(TextTableTest, ControlCharactersCannotReachTheTerminal) {
  EXPECT_EQ(TerminalSafe("ok é"), "ok é");
  EXPECT_EQ(TerminalSafe("a\nb\x1b[31m"), "a\\x0ab\\x1b[31m");
  EXPECT_EQ(TerminalSafe("back\\slash"), "back\\\\slash");
  EXPECT_EQ(TerminalSafe("\xc2\x9b"), "\\xc2\\x9b");  // C1 CSI.
  EXPECT_EQ(TerminalSafe("\xff"), "\\xff");
  TextTable t({"A", "B"});
  t.AddRow({"x\ny", "z"});
  EXPECT_EQ(t.Render(), "A       B\nx\\x0ay  z\n");
}

TEST(FormatMsTest, PicksAShortUnit) {
  EXPECT_EQ(FormatMs(-5), "0ms");
  EXPECT_EQ(FormatMs(0), "0ms");
  EXPECT_EQ(FormatMs(850), "850ms");
  EXPECT_EQ(FormatMs(1000), "1s");
  EXPECT_EQ(FormatMs(12345), "12.3s");
  EXPECT_EQ(FormatMs(10000), "10s");
  EXPECT_EQ(FormatMs(245000), "4m05s");
  EXPECT_EQ(FormatMs(7380000), "2h03m");
}

}  // namespace
}  // namespace taala::tools
