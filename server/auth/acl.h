#ifndef TAALA_SERVER_AUTH_ACL_H_
#define TAALA_SERVER_AUTH_ACL_H_

// The access-control list of --acl_file (docs/security.md): rules granting
// identities or groups permissions on key prefixes; roles name sets of
// permissions (`client` = lock + read, `admin` = lock + read + admin).
// Once a file is in force, whatever no rule grants is denied.
//
//   group NAME MEMBER...                  # a group of identities
//   allow SUBJECT PREFIX PERM_OR_ROLE...  # SUBJECT: identity, group:NAME, *

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/auth/identity.h"

namespace taala {
namespace auth {

// The largest ACL file, and the most lines it may hold: a load stays cheap.
inline constexpr size_t kMaxAclFileBytes = 1 << 20;
inline constexpr int kMaxAclLines = 10000;

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

  size_t rule_count() const { return rule_count_; }

 private:
  struct Rule {
    std::string prefix;
    uint8_t permissions = 0;  // Permission bits.
  };
  // Calls `f(rules)` for each rule list that applies to `name`: its own,
  // its groups', and `*`'s; stops (returning true) once `f` does.
  template <typename F>
  bool AnyRules(absl::string_view name, F f) const;

  // The rules per subject, resolved at parse time: an identity's own
  // ("alice"), each group's by its name, and every identity's ("*").
  absl::flat_hash_map<std::string, std::vector<Rule>> by_identity_;
  std::vector<std::vector<Rule>> by_group_;  // Indexed like groups.
  std::vector<Rule> everyone_;
  // Identity -> the indices of the groups it is in.
  absl::flat_hash_map<std::string, std::vector<int>> groups_of_;
  size_t rule_count_ = 0;
};

}  // namespace auth
}  // namespace taala

#endif  // TAALA_SERVER_AUTH_ACL_H_
