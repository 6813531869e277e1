#ifndef TAALA_SERVER_CORE_CHECK_H_
#define TAALA_SERVER_CORE_CHECK_H_

#include <cstdio>
#include <cstdlib>

// TAALA_CHECK(cond) aborts with the failed condition's text and location.
// For invariants only: a broken invariant means state can no longer be
// trusted, and a lock service must not go on answering from it.
#define TAALA_CHECK(cond)                                                \
  do {                                                                   \
    if (!(cond)) {                                                       \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,        \
                   __LINE__, #cond);                                     \
      std::abort();                                                      \
    }                                                                    \
  } while (false)

#endif  // TAALA_SERVER_CORE_CHECK_H_
