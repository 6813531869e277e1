#ifndef TAALA_SERVER_AUTH_TOKEN_FILE_H_
#define TAALA_SERVER_AUTH_TOKEN_FILE_H_

// The bearer tokens of --auth_tokens_file (docs/security.md): one identity
// per line with the SHA-256 of its token (never the token itself), so the
// file leaks no credential.

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace taala {
namespace auth {

// Immutable once parsed; thread-safe to read.
class TokenFile {
 public:
  // INVALID_ARGUMENT "line N: <what>" for any error (the whole file is
  // refused).
  static absl::StatusOr<TokenFile> Parse(absl::string_view text);

  // The identity whose token `token` is, or nullopt.
  std::optional<std::string> IdentityFor(absl::string_view token) const;

  size_t size() const { return identity_by_hash_.size(); }

 private:
  // Hex SHA-256 of a token -> its identity.
  absl::flat_hash_map<std::string, std::string> identity_by_hash_;
};

// The lowercase hex SHA-256 of `token` (what the file stores).
std::string HashToken(absl::string_view token);

}  // namespace auth
}  // namespace taala

#endif  // TAALA_SERVER_AUTH_TOKEN_FILE_H_
