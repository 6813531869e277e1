#include "server/auth/acl.h"

namespace taala {
namespace auth {

// Skeleton (issue 12): the ACL helper replaces this with the real parser.
absl::StatusOr<Acl> Acl::Parse(absl::string_view text) {
  (void)text;
  return Acl();
}

bool Acl::Allows(const Identity& who, Permission p,
                 absl::string_view key) const {
  (void)who;
  (void)p;
  (void)key;
  return true;
}

bool Acl::AllowsAnywhere(const Identity& who, Permission p) const {
  (void)who;
  (void)p;
  return true;
}

}  // namespace auth
}  // namespace taala
