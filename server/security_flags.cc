#include "server/security_flags.h"

#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, acl_file, "",
          "Access-control list (docs/security.md): once set, whatever it "
          "does not grant is denied.");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "Bearer tokens (docs/security.md): IDENTITY sha256:HEX per line.");

namespace taala {
namespace {

absl::StatusOr<std::string> ReadAll(const std::string& flag,
                                    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", path, ": cannot be read"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<DaemonSecurity>> LoadSecurityFlags() {
  auth::AuthConfig config;
  const std::string acl = absl::GetFlag(FLAGS_acl_file);
  if (!acl.empty()) {
    absl::StatusOr<std::string> text = ReadAll("acl_file", acl);
    if (!text.ok()) return text.status();
    absl::StatusOr<auth::Acl> parsed = auth::Acl::Parse(*text);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--acl_file=", acl, ": ", parsed.status().message()));
    }
    config.acl = *std::move(parsed);
  }
  const std::string tokens = absl::GetFlag(FLAGS_auth_tokens_file);
  if (!tokens.empty()) {
    absl::StatusOr<std::string> text = ReadAll("auth_tokens_file", tokens);
    if (!text.ok()) return text.status();
    absl::StatusOr<auth::TokenFile> parsed = auth::TokenFile::Parse(*text);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--auth_tokens_file=", tokens, ": ", parsed.status().message()));
    }
    config.tokens = *std::move(parsed);
  }
  auto security = std::make_unique<DaemonSecurity>();
  security->auth.Set(
      std::make_shared<const auth::AuthConfig>(std::move(config)));
  return security;
}

}  // namespace taala
