#ifndef TAALA_SERVER_CORE_STATUS_MACROS_H_
#define TAALA_SERVER_CORE_STATUS_MACROS_H_

#include "absl/status/status.h"

// Local equivalents of Abseil's status macros, which Debian 12's Abseil
// (20220623) does not have.

#define TAALA_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::absl::Status taala_status_ = (expr);         \
    if (!taala_status_.ok()) return taala_status_; \
  } while (false)

#define TAALA_STATUS_CONCAT_INNER_(a, b) a##b
#define TAALA_STATUS_CONCAT_(a, b) TAALA_STATUS_CONCAT_INNER_(a, b)

#define TAALA_ASSIGN_OR_RETURN(lhs, expr)                                   \
  TAALA_ASSIGN_OR_RETURN_IMPL_(TAALA_STATUS_CONCAT_(taala_or_, __LINE__), \
                               lhs, expr)

#define TAALA_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // TAALA_SERVER_CORE_STATUS_MACROS_H_
