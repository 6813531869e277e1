// Unit tests of taalactl's parts without gRPC: command line, endpoint,
// proto JSON, tables.

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "common/endpoint.h"
#include "google/protobuf/util/json_util.h"
#include "taala/v1/lock_service.pb.h"
#include "tools/proto_json.h"
#include "tools/taalactl_args.h"
#include "tools/text_table.h"

namespace taala::tools {
namespace {

using ::taala::test::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

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

TEST(ProtoJsonTest, PrintsTheProto3MappingThatReadsBack) {
  v1::DescribeLockResponse resp;
  resp.set_key("a/\"b\"\n");
  v1::Holder* h = resp.add_holders();
  h->mutable_grant()->set_session_id(18446744073709551615u);
  h->mutable_grant()->set_fencing_token(9007199254740993u);  // 2^53 + 1.
  h->mutable_grant()->set_mode(v1::LOCK_MODE_SHARED);
  (*h->mutable_labels())["host"] = "h1";
  absl::StatusOr<std::string> json = ToJson(resp);
  ASSERT_OK(json);
  // Proto field names; 64-bit integers as strings; enums by name; defaults
  // printed.
  EXPECT_THAT(*json, HasSubstr(R"("session_id":"18446744073709551615")"));
  EXPECT_THAT(*json, HasSubstr(R"("fencing_token":"9007199254740993")"));
  EXPECT_THAT(*json, HasSubstr(R"("mode":"LOCK_MODE_SHARED")"));
  EXPECT_THAT(*json, HasSubstr(R"("waiter_count":0)"));
  EXPECT_THAT(*json, HasSubstr(R"("waiters":[])"));
  EXPECT_THAT(*json, Not(HasSubstr("\n")));
  v1::DescribeLockResponse back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &back).ok());
  EXPECT_EQ(back.SerializeAsString(), resp.SerializeAsString());
}

TEST(EndpointTest, AHostWithoutAPortDials7070) {
  EXPECT_EQ(WithDefaultPort("db1"), "db1:7070");
  EXPECT_EQ(WithDefaultPort("db1.example.com"), "db1.example.com:7070");
  EXPECT_EQ(WithDefaultPort("10.0.0.5"), "10.0.0.5:7070");
  EXPECT_EQ(WithDefaultPort("[::1]"), "[::1]:7070");
  EXPECT_EQ(WithDefaultPort("::1"), "[::1]:7070");
  // A port, or a gRPC target with a scheme: unchanged.
  EXPECT_EQ(WithDefaultPort("db1:9000"), "db1:9000");
  EXPECT_EQ(WithDefaultPort("[::1]:9000"), "[::1]:9000");
  EXPECT_EQ(WithDefaultPort("dns:///db1:9000"), "dns:///db1:9000");
  EXPECT_EQ(WithDefaultPort("unix:/run/taala.sock"), "unix:/run/taala.sock");
  EXPECT_EQ(WithDefaultPort("ipv4:10.0.0.1:1,10.0.0.2:2"),
            "ipv4:10.0.0.1:1,10.0.0.2:2");
}

TEST(EndpointTest, AnEmptyPortIs7070AndAPortOutOfRangeIsRefused) {
  EXPECT_EQ(WithDefaultPort("db1:"), "db1:7070");
  EXPECT_EQ(WithDefaultPort("[::1]:"), "[::1]:7070");
  EXPECT_EQ(*NormalizeEndpoint("127.0.0.1:"), "127.0.0.1:7070");
  EXPECT_EQ(*NormalizeEndpoint("db1:1"), "db1:1");
  EXPECT_EQ(*NormalizeEndpoint("[::1]:65535"), "[::1]:65535");
  for (const char* bad : {"127.0.0.1:70000", "127.0.0.1:65536", "db1:0",
                          "db1:-1", "db1:+80", "db1:http", "[::1]:99999",
                          "[::1]x", "[::1", ":80", ""}) {
    absl::StatusOr<std::string> e = NormalizeEndpoint(bad);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(e.status().message(), HasSubstr("endpoint \"")) << bad;
  }
  // Targets with a scheme are gRPC's to read.
  EXPECT_EQ(*NormalizeEndpoint("dns:///db1:9000"), "dns:///db1:9000");
  EXPECT_EQ(*NormalizeEndpoint("unix:/run/taala.sock"),
            "unix:/run/taala.sock");
  // The message names the variable the bad endpoint came from.
  absl::StatusOr<std::string> env = ResolveEndpoint("", "db1:70000");
  EXPECT_THAT(env.status().message(), HasSubstr("TAALA_ENDPOINT"));
  EXPECT_THAT(env.status().message(), HasSubstr("db1:70000"));
}

TEST(ParseArgsTest, EndpointWithoutPortGetsPort7070FromFlagOrEnvironment) {
  EXPECT_EQ(Parse({"--endpoint", "db1", "health"})->endpoint, "db1:7070");
  EXPECT_EQ(Parse({"health"}, "db2")->endpoint, "db2:7070");
  EXPECT_EQ(Parse({"--endpoint=db1:1", "health"}, "db2")->endpoint, "db1:1");
  EXPECT_EQ(Parse({"--endpoint", "db1:", "health"})->endpoint, "db1:7070");
}

TEST(ParseArgsTest, EndpointPortOutOfRangeIsAUsageErrorNamingIt) {
  absl::StatusOr<Invocation> inv =
      Parse({"--endpoint", "127.0.0.1:70000", "health"});
  EXPECT_EQ(inv.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(inv.status().message(), HasSubstr("--endpoint"));
  EXPECT_THAT(inv.status().message(), HasSubstr("127.0.0.1:70000"));
  inv = Parse({"health"}, "db1:-1");
  EXPECT_EQ(inv.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(inv.status().message(), HasSubstr("TAALA_ENDPOINT"));
  // A good --endpoint wins over a bad environment.
  EXPECT_EQ(Parse({"--endpoint=db1:1", "health"}, "db2:0")->endpoint,
            "db1:1");
}

TEST(ParseArgsTest, NewCommandsAndTheirOptions) {
  absl::StatusOr<Invocation> inv =
      Parse({"leaks", "--held-longer-than", "10m", "--p99-factor=2.5",
             "--limit", "7"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->command, "leaks");
  EXPECT_EQ(inv->held_longer_than, absl::Minutes(10));
  EXPECT_EQ(inv->p99_factor, 2.5);
  EXPECT_EQ(inv->limit, 7u);

  inv = Parse({"list", "--held-longer-than=500ms", "--contended", "pay/"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->held_longer_than, absl::Milliseconds(500));
  EXPECT_TRUE(inv->contended);
  EXPECT_EQ(inv->prefix, "pay/");

  inv = Parse({"contention", "--limit=3"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->command, "contention");
  EXPECT_EQ(inv->limit, 3u);

  // stats: a key; a prefix (trailing '/' or --prefix); or every key.
  inv = Parse({"stats", "payments/42"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->key, "payments/42");
  EXPECT_EQ(inv->prefix, "");
  inv = Parse({"stats", "payments/"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->key, "");
  EXPECT_EQ(inv->prefix, "payments/");
  inv = Parse({"stats", "--prefix", "pay"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->prefix, "pay");
  inv = Parse({"stats"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->key, "");
  EXPECT_EQ(inv->prefix, "");

  EXPECT_EQ(Parse({"deadlocks", "--limit", "5"})->limit, 5u);
}

TEST(ParseArgsTest, VersionAndPerCommandHelp) {
  EXPECT_EQ(Parse({"--version"})->command, "version");
  EXPECT_EQ(Parse({"version"})->command, "version");
  absl::StatusOr<Invocation> inv = Parse({"describe", "--help"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->command, "help");
  EXPECT_EQ(inv->help_topic, "describe");
  EXPECT_EQ(Parse({"help", "stats"})->help_topic, "stats");
  EXPECT_EQ(Parse({"lock", "--help"})->help_topic, "lock");
  EXPECT_EQ(Parse({"--help"})->help_topic, "");
  EXPECT_THAT(Parse({"frob", "--help"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown command")));
  // Each command's usage names it on its first line.
  for (const char* c : {"lock", "describe", "list", "sessions", "deadlocks",
                        "health", "leaks", "contention", "stats",
                        "policies"}) {
    const char* text = CommandUsageText(c);
    ASSERT_NE(text, nullptr) << c;
    const std::string first(text, std::strchr(text, '\n') - text);
    EXPECT_THAT(first, testing::StartsWith(absl::StrCat("Usage: taalactl ", c)))
        << first;
    EXPECT_THAT(UsageText(), HasSubstr(absl::StrCat("  ", c, " "))) << c;
  }
  EXPECT_EQ(CommandUsageText("frob"), nullptr);
}

TEST(ParseArgsTest, NewOptionsRefuseBadValues) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"leaks", "--held-longer-than", "soon"}, "not a duration"},
      {{"leaks", "--held-longer-than", "inf"}, "must be finite"},
      {{"list", "--held-longer-than", "-1s"}, "must not be negative"},
      {{"leaks", "--p99-factor", "x"}, "not a non-negative number"},
      {{"leaks", "--p99-factor", "-2"}, "not a non-negative number"},
      {{"leaks", "--contended"}, "--contended is only for taalactl list"},
      {{"describe", "--held-longer-than=1s", "k"}, "only for taalactl list"},
      {{"list", "--p99-factor=2"}, "--p99-factor is only for taalactl leaks"},
      {{"list", "--prefix", "a"}, "--prefix is only for taalactl stats"},
      {{"stats", "a", "b"}, "at most one KEY or PREFIX"},
      {{"stats", "--prefix"}, "--prefix needs a PREFIX"},
      {{"contention", "x"}, "takes no arguments"},
      {{"leaks", "x"}, "takes no arguments"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Parse(c.args), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr(c.message)))
        << testing::PrintToString(c.args);
  }
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

TEST(TextTableTest, BidiControlsAndLineSeparatorsAreEscaped) {
  // Each one escaped, in place; their neighbours kept.
  EXPECT_EQ(TerminalSafe("a\u202eb"), "a\\u{202E}b");  // RLO.
  EXPECT_EQ(TerminalSafe("\u2066x\u2069"), "\\u{2066}x\\u{2069}");
  EXPECT_EQ(TerminalSafe("\u2028\u2029"), "\\u{2028}\\u{2029}");
  EXPECT_EQ(TerminalSafe("\u061c\u200e\u200f\ufeff"),
            "\\u{061C}\\u{200E}\\u{200F}\\u{FEFF}");
  for (const char* cp : {"\u202a", "\u202b", "\u202c", "\u202d",
                         "\u2067", "\u2068"}) {
    EXPECT_EQ(TerminalSafe(cp).substr(0, 3), "\\u{") << cp;
  }
  // Their neighbours are not: ZWJ (emoji), U+2030, U+2065, U+202F.
  for (const char* cp : {"\u200d", "\u2030", "\u2065", "\u202f"}) {
    EXPECT_EQ(TerminalSafe(cp), cp);
  }
  // Escaped text is ASCII: a table cell's width is what it shows.
  TextTable t({"A", "B"});
  t.AddRow({"\u202e", "z"});
  EXPECT_EQ(t.Render(), "A         B\n\\u{202E}  z\n");
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

// Identity (issue 12): credentials by flag or environment, hash-token.
TEST(ParseArgsTest, CredentialsComeFromFlagsThenTheEnvironment) {
  absl::StatusOr<Invocation> inv =
      Parse({"sessions", "--tls-ca", "ca.pem", "--tls-cert=c.pem",
             "--tls-key", "c.key", "--auth-token", "s3cret"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->tls_ca, "ca.pem");
  EXPECT_EQ(inv->tls_cert, "c.pem");
  EXPECT_EQ(inv->tls_key, "c.key");
  EXPECT_EQ(inv->auth_token, "s3cret");
  // Flags win; the environment fills the rest; empty variables are none.
  ApplyCredentialEnvironment(&*inv, "env-ca.pem", nullptr, "", "env-token");
  EXPECT_EQ(inv->tls_ca, "ca.pem");
  EXPECT_EQ(inv->auth_token, "s3cret");
  inv = Parse({"health"});
  ASSERT_TRUE(inv.ok());
  ApplyCredentialEnvironment(&*inv, "env-ca.pem", "env.pem", "env.key", "");
  EXPECT_EQ(inv->tls_ca, "env-ca.pem");
  EXPECT_EQ(inv->tls_cert, "env.pem");
  EXPECT_EQ(inv->tls_key, "env.key");
  EXPECT_EQ(inv->auth_token, "");
  EXPECT_THAT(Parse({"health", "--auth-token="}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--auth-token: empty")));
  // --token stays the fencing token of release and force-release.
  inv = Parse({"release", "k", "--session", "7", "--token", "9"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->token, 9u);
  EXPECT_EQ(inv->auth_token, "");
}

TEST(ParseArgsTest, HashTokenTakesOneIdentity) {
  absl::StatusOr<Invocation> inv = Parse({"hash-token", "alice"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->command, "hash-token");
  EXPECT_EQ(inv->key, "alice");
  EXPECT_THAT(Parse({"hash-token"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("exactly one IDENTITY")));
  EXPECT_FALSE(Parse({"hash-token", "a", "b"}).ok());
  EXPECT_NE(CommandUsageText("hash-token"), nullptr);
}

// health --admin (issue 13): the admin listener over HTTP, for the image's
// HEALTHCHECK.
TEST(ParseArgsTest, HealthAdminAndReady) {
  absl::StatusOr<Invocation> inv =
      Parse({"health", "--admin", "127.0.0.1:7071", "--ready"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->admin, "127.0.0.1:7071");
  EXPECT_TRUE(inv->ready);
  inv = Parse({"--admin=[::1]:9", "health"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->admin, "[::1]:9");
  EXPECT_FALSE(inv->ready);
  EXPECT_THAT(Parse({"health", "--ready"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--ready needs --admin")));
  EXPECT_THAT(Parse({"health", "--json", "--admin=h:1"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("leave out --json")));
  EXPECT_THAT(Parse({"list", "--admin=h:1"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("only for taalactl health")));
  EXPECT_FALSE(Parse({"health", "--admin="}).ok());
}

}  // namespace
}  // namespace taala::tools
