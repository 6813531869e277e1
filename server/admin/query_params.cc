#include "server/admin/query_params.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/utf8.h"

namespace taala::admin {
namespace {

absl::Status Bad(absl::string_view name, absl::string_view value,
                 absl::string_view want) {
  return absl::InvalidArgumentError(absl::StrCat(
      "query parameter ", name, "=\"", value, "\": want ", want));
}

}  // namespace

absl::StatusOr<QueryParams> QueryParams::Parse(
    const std::multimap<std::string, std::string>& params,
    const std::vector<absl::string_view>& allowed) {
  QueryParams q;
  for (const auto& [name, value] : params) {
    bool known = false;
    for (absl::string_view a : allowed) known = known || a == name;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown query parameter \"", name, "\"",
          allowed.empty()
              ? std::string("; this endpoint takes none")
              : absl::StrCat("; this endpoint takes ",
                             absl::StrJoin(allowed, ", "))));
    }
    // Before anything reaches a proto3 string field (which must be UTF-8).
    if (!IsWholeUtf8(value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "query parameter \"", name, "\": not valid UTF-8"));
    }
    if (!q.values_.emplace(name, value).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("query parameter \"", name, "\" given twice"));
    }
  }
  return q;
}

bool QueryParams::Has(absl::string_view name) const {
  return values_.find(name) != values_.end();
}

void QueryParams::String(absl::string_view name, std::string* out) const {
  auto it = values_.find(name);
  if (it != values_.end()) *out = it->second;
}

absl::Status QueryParams::Int64(absl::string_view name, int64_t min,
                                int64_t max, int64_t* out) const {
  auto it = values_.find(name);
  if (it == values_.end()) return absl::OkStatus();
  int64_t v = 0;
  if (!absl::SimpleAtoi(it->second, &v) || v < min || v > max) {
    return Bad(name, it->second,
               absl::StrCat("an integer from ", min, " to ", max));
  }
  *out = v;
  return absl::OkStatus();
}

absl::Status QueryParams::Uint32(absl::string_view name, uint32_t max,
                                 uint32_t* out) const {
  int64_t v = *out;
  if (absl::Status s = Int64(name, 0, max, &v); !s.ok()) return s;
  *out = static_cast<uint32_t>(v);
  return absl::OkStatus();
}

absl::Status QueryParams::Bool(absl::string_view name, bool* out) const {
  auto it = values_.find(name);
  if (it == values_.end()) return absl::OkStatus();
  const std::string& v = it->second;
  if (v.empty() || v == "true" || v == "1") {
    *out = true;
  } else if (v == "false" || v == "0") {
    *out = false;
  } else {
    return Bad(name, v, "true or false");
  }
  return absl::OkStatus();
}

absl::Status QueryParams::Double(absl::string_view name, double min,
                                 double max, double* out) const {
  auto it = values_.find(name);
  if (it == values_.end()) return absl::OkStatus();
  double v = 0;
  if (!absl::SimpleAtod(it->second, &v) || !std::isfinite(v) || v < min ||
      v > max) {
    return Bad(name, it->second, absl::StrCat("a number from ", min, " to ",
                                              max));
  }
  *out = v;
  return absl::OkStatus();
}

}  // namespace taala::admin
