#ifndef TAALA_COMMON_VERSION_H_
#define TAALA_COMMON_VERSION_H_

// The version taalad and taalactl print (--version) and GetServerStatus
// reports: the project version from CMakeLists.txt and the git commit the
// binary was built from ("unknown" outside a git checkout; "-dirty" when the
// tree had uncommitted changes).

#include <string>

namespace taala {

const char* TaalaVersion();    // "0.1.0"
const char* TaalaGitCommit();  // "741429f1c2d3" or "741429f1c2d3-dirty"

// "<program> 0.1.0 (commit 741429f1c2d3)".
std::string VersionLine(const char* program);

}  // namespace taala

#endif  // TAALA_COMMON_VERSION_H_
