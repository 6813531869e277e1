// taalactl hash-token IDENTITY: the --auth_tokens_file line of a token, so
// that operators never write a hash by hand (docs/security.md).

#include <iostream>
#include <string>

#include "server/auth/token_file.h"
#include "tools/commands.h"
#include "tools/exit_codes.h"
#include "tools/text_table.h"

namespace taala::tools {

int RunHashToken(const Invocation& inv) {
  // The token comes on stdin, not the command line, so that it stays out of
  // `ps` and the shell's history.
  std::string token;
  std::getline(std::cin, token);
  if (!token.empty() && token.back() == '\r') token.pop_back();
  if (token.empty()) {
    std::cerr << "taalactl: hash-token: no token on stdin\n";
    return kExitUsage;
  }
  for (char c : token) {
    if (c < 0x20 || c > 0x7e) {
      std::cerr << "taalactl: hash-token: a token is printable ASCII only "
                   "(it travels in call metadata)\n";
      return kExitUsage;
    }
  }
  // The same rule as the file's parser: printable, no spaces, <= 256 bytes.
  bool identity_ok = inv.key.size() <= 256;
  for (char c : inv.key) identity_ok = identity_ok && c > ' ' && c < 0x7f;
  if (!identity_ok) {
    std::cerr << "taalactl: hash-token: IDENTITY \"" << TerminalSafe(inv.key)
              << "\" must be at most 256 bytes of printable ASCII without "
                 "spaces\n";
    return kExitUsage;
  }
  std::cout << inv.key << " sha256:" << auth::HashToken(token) << "\n";
  return kExitOk;
}

}  // namespace taala::tools
