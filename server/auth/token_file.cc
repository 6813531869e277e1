#include "server/auth/token_file.h"

#include <openssl/sha.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/auth/identity.h"

namespace taala {
namespace auth {
namespace {

// Bounds that keep a damaged or hostile file from costing much: a token
// file lists people and services, not millions of entries.
constexpr size_t kMaxFileBytes = 4 << 20;
constexpr size_t kMaxLines = 100000;
constexpr size_t kMaxIdentityBytes = 256;
constexpr absl::string_view kHashPrefix = "sha256:";

absl::Status LineError(size_t line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", what));
}

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Printable ASCII without spaces: an identity appears in ACL rules, log
// lines and the audit trail as it is.
bool IsIdentityChar(char c) { return c > ' ' && c < 0x7f; }

}  // namespace

absl::StatusOr<TokenFile> TokenFile::Parse(absl::string_view text) {
  if (text.size() > kMaxFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the file has ", text.size(), " bytes; at most ",
                     kMaxFileBytes, " are read"));
  }
  TokenFile file;
  size_t n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++n;
    if (n > kMaxLines) {
      return LineError(n, absl::StrCat("more than ", kMaxLines, " lines"));
    }
    absl::ConsumeSuffix(&line, "\r");
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2) {
      return LineError(n, absl::StrCat("expected \"IDENTITY sha256:HEX\", got ",
                                       fields.size(), " fields"));
    }
    const absl::string_view identity = fields[0];
    absl::string_view hash = fields[1];
    if (identity.size() > kMaxIdentityBytes) {
      return LineError(n, absl::StrCat("the identity has ", identity.size(),
                                       " bytes; at most ", kMaxIdentityBytes));
    }
    for (char c : identity) {
      if (!IsIdentityChar(c)) {
        return LineError(
            n, "the identity may hold only printable ASCII without spaces");
      }
    }
    if (IsReservedIdentityName(identity)) {
      return LineError(
          n, absl::StrCat("identity \"", identity,
                          "\" is reserved (anonymous@... names anonymous "
                          "callers, taalad its own calls)"));
    }
    if (!absl::ConsumePrefix(&hash, kHashPrefix)) {
      return LineError(n, "the hash must start with \"sha256:\" (make the "
                          "line with `taalactl hash-token IDENTITY`)");
    }
    if (hash.size() != 64 || !IsLowerHex(hash)) {
      return LineError(n, "the hash must be 64 lowercase hex digits (a "
                          "SHA-256)");
    }
    // One token, one identity: a hash listed twice would make the identity
    // of a caller depend on the order of the lines.
    if (!file.identity_by_hash_.emplace(hash, identity).second) {
      return LineError(n, "this hash is already listed (every token must be "
                          "different)");
    }
  }
  return file;
}

std::optional<std::string> TokenFile::IdentityFor(
    absl::string_view token) const {
  auto it = identity_by_hash_.find(HashToken(token));
  if (it == identity_by_hash_.end()) return std::nullopt;
  return it->second;
}

std::string HashToken(absl::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
         digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * SHA256_DIGEST_LENGTH);
  for (unsigned char b : digest) {
    hex.push_back(kHex[b >> 4]);
    hex.push_back(kHex[b & 0xf]);
  }
  return hex;
}

}  // namespace auth
}  // namespace taala
