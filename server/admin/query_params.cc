#include "server/admin/query_params.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/utf8.h"

namespace taala::admin {
namespace {

absl::Status Bad(absl::string_view name, absl::string_view value,
                 absl::string_view want) {
  return absl::InvalidArgumentError(absl::StrCat(
      "query parameter ", name, "=\"", value, "\": want ", want));
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Form decoding: "%XX" is a byte, '+' a space. False on a '%' not followed
// by two hex digits.
bool Decode(absl::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out->push_back(' ');
    } else if (in[i] != '%') {
      out->push_back(in[i]);
    } else {
      if (i + 2 >= in.size()) return false;  // Needs two more characters.
      const int hi = HexDigit(in[i + 1]);
      const int lo = HexDigit(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<QueryParams> QueryParams::Parse(
    absl::string_view target, const std::vector<absl::string_view>& allowed) {
  std::vector<std::pair<std::string, std::string>> params;
  if (const size_t q = target.find('?'); q != absl::string_view::npos) {
    for (absl::string_view pair :
         absl::StrSplit(target.substr(q + 1), '&', absl::SkipEmpty())) {
      const size_t eq = pair.find('=');
      const absl::string_view raw_name = pair.substr(0, eq);
      const absl::string_view raw_value =
          eq == absl::string_view::npos ? absl::string_view()
                                        : pair.substr(eq + 1);
      std::string name, value;
      if (!Decode(raw_name, &name) || !Decode(raw_value, &value)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "query parameter \"", absl::CHexEscape(pair),
            "\": malformed percent-encoding (want %XX with two hex digits)"));
      }
      if (name.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "query parameter \"", absl::CHexEscape(pair),
            "\" has no name"));
      }
      params.emplace_back(std::move(name), std::move(value));
    }
  }
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
