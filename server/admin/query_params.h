#ifndef TAALA_SERVER_ADMIN_QUERY_PARAMS_H_
#define TAALA_SERVER_ADMIN_QUERY_PARAMS_H_

// An HTTP query string's parameters, checked against what an endpoint
// accepts: an unknown or empty name, a name given twice, a malformed
// percent-encoding, a value that is not UTF-8 or a malformed value is an
// InvalidArgument naming the parameter (the listener answers 400 with it).
// An absent parameter leaves the output as it was (the request's default).
// The query is split here, not by cpp-httplib (which keeps only the text
// after a pair's last '=', so "key=team=a/x" read as key "a/x"): a pair is
// split at its first '=', and '+' is a space (form encoding; "%2B" is '+').

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace taala::admin {

class QueryParams {
 public:
  // `target`: the request target as received ("/path?a=1&b=x%2Fy").
  static absl::StatusOr<QueryParams> Parse(
      absl::string_view target, const std::vector<absl::string_view>& allowed);

  bool Has(absl::string_view name) const;
  // Any string (UTF-8 is checked by the RPC that receives it).
  void String(absl::string_view name, std::string* out) const;
  // A decimal integer in [min, max].
  absl::Status Int64(absl::string_view name, int64_t min, int64_t max,
                     int64_t* out) const;
  absl::Status Uint32(absl::string_view name, uint32_t max,
                      uint32_t* out) const;
  // true/false/1/0 (an empty value, "?contended_only", is true).
  absl::Status Bool(absl::string_view name, bool* out) const;
  // A finite number in [min, max].
  absl::Status Double(absl::string_view name, double min, double max,
                      double* out) const;

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

}  // namespace taala::admin

#endif  // TAALA_SERVER_ADMIN_QUERY_PARAMS_H_
