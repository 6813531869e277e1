#include "common/version.h"

#include <string>

namespace taala {
namespace internal {
extern const char kGitCommit[];  // git_commit.cc, generated at build time.
}  // namespace internal

const char* TaalaVersion() { return TAALA_VERSION; }
const char* TaalaGitCommit() { return internal::kGitCommit; }

std::string VersionLine(const char* program) {
  return std::string(program) + " " + TaalaVersion() + " (commit " +
         TaalaGitCommit() + ")";
}

}  // namespace taala
