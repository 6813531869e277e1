#ifndef TAALA_TESTS_TESTING_STATUS_MATCHERS_H_
#define TAALA_TESTS_TESTING_STATUS_MATCHERS_H_

// Minimal status matchers (Abseil's status_matchers.h is newer than Debian
// 12's Abseil).

#include <ostream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace taala::test {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s;
  return s.ok();
}

MATCHER_P(StatusIs, code, "has status code " + testing::PrintToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has status code " + testing::PrintToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code &&
         testing::ExplainMatchResult(message_matcher,
                                     std::string(s.message()),
                                     result_listener);
}

MATCHER_P(IsOkAndHolds, matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return testing::ExplainMatchResult(matcher, *arg, result_listener);
}

}  // namespace taala::test

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::taala::test::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::taala::test::IsOk())

#endif  // TAALA_TESTS_TESTING_STATUS_MATCHERS_H_
