#ifndef TAALA_SERVER_AUTH_ACL_H_
#define TAALA_SERVER_AUTH_ACL_H_

// The access-control list of --acl_file (docs/security.md): rules granting
// identities or groups permissions on key prefixes; roles name sets of
// permissions (`client` = lock + read, `admin` = lock + read + admin).
// Once a file is in force, whatever no rule grants is denied.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/auth/identity.h"

namespace taala {
namespace auth {

// Immutable once parsed; thread-safe to read.
class Acl {
 public:
  // INVALID_ARGUMENT "line N: <what>" for any error (the whole file is
  // refused).
  static absl::StatusOr<Acl> Parse(absl::string_view text);

  // True if some rule grants `p` to `who` on a prefix of `key`.
  bool Allows(const Identity& who, Permission p, absl::string_view key) const;
  // True if some rule grants `p` to `who` on any prefix at all (say,
  // CreateSession needs `lock` somewhere).
  bool AllowsAnywhere(const Identity& who, Permission p) const;
  // True if `p` on every key (the empty prefix): ListSessions shows other
  // identities' sessions only then (`read`).
  bool AllowsEverywhere(const Identity& who, Permission p) const {
    return Allows(who, p, "");
  }

  size_t rule_count() const { return rules_.size(); }

 private:
  struct Rule {
    std::string subject;  // An identity name, "group:NAME" or "*".
    std::string prefix;
    uint8_t permissions = 0;  // Permission bits.
  };
  std::vector<Rule> rules_;
};

}  // namespace auth
}  // namespace taala

#endif  // TAALA_SERVER_AUTH_ACL_H_
