#include "server/auth/token_file.h"

namespace taala {
namespace auth {

// Skeleton (issue 12): the identity helper replaces this.
absl::StatusOr<TokenFile> TokenFile::Parse(absl::string_view text) {
  (void)text;
  return TokenFile();
}

std::optional<std::string> TokenFile::IdentityFor(
    absl::string_view token) const {
  auto it = identity_by_hash_.find(HashToken(token));
  if (it == identity_by_hash_.end()) return std::nullopt;
  return it->second;
}

std::string HashToken(absl::string_view token) { return std::string(token); }

}  // namespace auth
}  // namespace taala
