#ifndef TAALA_TESTS_INTEGRATION_PROMETHEUS_PARSER_H_
#define TAALA_TESTS_INTEGRATION_PROMETHEUS_PARSER_H_

// A strict reader of the Prometheus text exposition format 0.0.4, for
// tests: every line must be a "# HELP", a "# TYPE", another comment or a
// sample; names and label names must be valid, label values properly
// escaped, values numbers. On top of the format it checks what /metrics
// promises: each family's TYPE comes before its samples, which are
// contiguous; no series appears twice; counters end in _total and are not
// negative; a histogram's buckets have increasing le bounds ending with
// +Inf, cumulative counts that never decrease, and a +Inf count equal to
// its _count, with _sum and _count present.

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace taala::test {

struct PromSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // As written.
  double value = 0;
};

struct PromExposition {
  std::map<std::string, std::string> types;  // Family -> type.
  std::map<std::string, std::string> help;   // Family -> text.
  std::vector<PromSample> samples;
  std::map<std::string, double> series;  // SeriesKey(...) -> value.

  // "name" or "name{a=\"x\",b=\"y\"}" with labels sorted by name.
  static std::string SeriesKey(
      const std::string& name,
      std::vector<std::pair<std::string, std::string>> labels) {
    std::sort(labels.begin(), labels.end());
    if (labels.empty()) return name;
    std::vector<std::string> parts;
    for (const auto& [k, v] : labels) parts.push_back(k + "=\"" + v + "\"");
    return name + "{" + absl::StrJoin(parts, ",") + "}";
  }
  // The value of a series; NaN if absent.
  double Get(const std::string& name,
             std::vector<std::pair<std::string, std::string>> labels = {})
      const {
    auto it = series.find(SeriesKey(name, std::move(labels)));
    return it == series.end() ? std::nan("") : it->second;
  }
};

namespace prom_internal {

inline bool IsNameStart(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (colon && c == ':');
}
inline bool IsNameChar(char c, bool colon) {
  return IsNameStart(c, colon) || (c >= '0' && c <= '9');
}
inline bool ValidName(const std::string& s, bool colon) {
  if (s.empty() || !IsNameStart(s[0], colon)) return false;
  for (char c : s) {
    if (!IsNameChar(c, colon)) return false;
  }
  return true;
}

inline bool ParseValue(const std::string& text, double* out) {
  if (text == "+Inf" || text == "Inf") return *out = INFINITY, true;
  if (text == "-Inf") return *out = -INFINITY, true;
  if (text == "NaN") return *out = NAN, true;
  if (text.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && std::isfinite(*out);
}

// Parses one sample line into `s`; an error message, or "" if fine.
inline std::string ParseSample(const std::string& line, PromSample* s) {
  size_t i = 0;
  while (i < line.size() && IsNameChar(line[i], true)) ++i;
  s->name = line.substr(0, i);
  if (!ValidName(s->name, true)) return "bad metric name";
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (true) {
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      size_t start = i;
      while (i < line.size() && IsNameChar(line[i], false)) ++i;
      const std::string label = line.substr(start, i - start);
      if (!ValidName(label, false)) return "bad label name";
      if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
        return "want =\" after a label name";
      }
      i += 2;
      std::string value;
      while (true) {
        if (i >= line.size()) return "unterminated label value";
        const char c = line[i++];
        if (c == '"') break;
        if (c == '\\') {
          if (i >= line.size()) return "dangling backslash";
          const char e = line[i++];
          if (e == 'n') {
            value += '\n';
          } else if (e == '\\' || e == '"') {
            value += e;
          } else {
            return "bad escape in a label value";
          }
        } else if (c == '\n') {
          return "raw newline in a label value";
        } else {
          value += c;
        }
      }
      for (const auto& [k, v] : s->labels) {
        if (k == label) return "label given twice";
      }
      s->labels.emplace_back(label, value);
      if (i < line.size() && line[i] == ',') {
        ++i;
      } else if (i >= line.size() || line[i] != '}') {
        return "want , or } after a label";
      }
    }
  }
  if (i >= line.size() || line[i] != ' ') return "want a space before the value";
  std::vector<std::string> rest = absl::StrSplit(line.substr(i + 1), ' ');
  if (rest.empty() || rest.size() > 2) return "want a value and an optional timestamp";
  if (!ParseValue(rest[0], &s->value)) return "bad value";
  if (rest.size() == 2) {
    for (char c : rest[1]) {
      if (!(c >= '0' && c <= '9') && c != '-') return "bad timestamp";
    }
  }
  return "";
}

inline std::string Family(const std::string& sample,
                          const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    if (absl::EndsWith(sample, suffix)) {
      const std::string base =
          sample.substr(0, sample.size() - std::string(suffix).size());
      auto it = types.find(base);
      if (it != types.end() && it->second == "histogram") return base;
    }
  }
  return sample;
}

}  // namespace prom_internal

inline absl::StatusOr<PromExposition> ParsePrometheus(const std::string& text) {
  using namespace prom_internal;  // NOLINT
  PromExposition e;
  if (text.empty() || text.back() != '\n') {
    return absl::InvalidArgumentError("the text must end with a newline");
  }
  std::set<std::string> finished;  // Families whose samples are over.
  std::string current;             // The family being written.
  std::map<std::string, std::vector<PromSample>> histogram_samples;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    const auto bad = [&](const std::string& why) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", n, ": ", why, ": ", line));
    };
    if (line.empty()) return bad("empty line");
    if (line[0] == '#') {
      std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(' ', 3));
      if (f.size() >= 3 && (f[1] == "HELP" || f[1] == "TYPE")) {
        const std::string& name = f[2];
        if (!ValidName(name, true)) return bad("bad name");
        if (f[1] == "TYPE") {
          if (f.size() != 4) return bad("TYPE without a type");
          static const std::set<std::string> kTypes = {
              "counter", "gauge", "histogram", "summary", "untyped"};
          if (kTypes.count(f[3]) == 0) return bad("unknown type");
          if (e.types.count(name)) return bad("second TYPE");
          if (finished.count(name) || current == name) {
            return bad("TYPE after the family's samples");
          }
          if (f[3] == "counter" && !absl::EndsWith(name, "_total")) {
            return bad("counter not named *_total");
          }
          e.types[name] = f[3];
        } else {
          if (e.help.count(name)) return bad("second HELP");
          e.help[name] = f.size() == 4 ? f[3] : "";
        }
      } else if (line.size() > 1 && line[1] != ' ') {
        return bad("a comment starts with \"# \"");
      }
      continue;
    }
    PromSample s;
    if (std::string why = ParseSample(line, &s); !why.empty()) return bad(why);
    const std::string family = Family(s.name, e.types);
    if (!e.types.count(family)) return bad("sample without a TYPE");
    if (family != current) {
      if (finished.count(family)) return bad("family's samples not together");
      if (!current.empty()) finished.insert(current);
      current = family;
    }
    const std::string key = PromExposition::SeriesKey(s.name, s.labels);
    if (e.series.count(key)) return bad("series given twice");
    e.series[key] = s.value;
    const std::string& type = e.types[family];
    if (type == "counter" && !(s.value >= 0)) return bad("negative counter");
    if (type == "histogram") histogram_samples[family].push_back(s);
    e.samples.push_back(std::move(s));
  }
  for (const auto& [family, type] : e.types) {
    if (type != "histogram") continue;
    double last_le = -INFINITY, last_count = 0, inf_count = -1;
    bool sum = false, count = false;
    double count_value = 0;
    for (const PromSample& s : histogram_samples[family]) {
      if (s.name == family + "_bucket") {
        if (s.labels.size() != 1 || s.labels[0].first != "le") {
          return absl::InvalidArgumentError(family + ": a bucket needs le only");
        }
        double le = 0;
        if (!ParseValue(s.labels[0].second, &le) || !(le > last_le)) {
          return absl::InvalidArgumentError(family + ": le not increasing");
        }
        if (s.value < last_count) {
          return absl::InvalidArgumentError(family + ": buckets not cumulative");
        }
        last_le = le;
        last_count = s.value;
        if (std::isinf(le)) inf_count = s.value;
      } else if (s.name == family + "_sum") {
        sum = true;
      } else if (s.name == family + "_count") {
        count = true;
        count_value = s.value;
      }
    }
    if (!std::isinf(last_le)) {
      return absl::InvalidArgumentError(family + ": no +Inf bucket last");
    }
    if (!sum || !count) {
      return absl::InvalidArgumentError(family + ": no _sum or _count");
    }
    if (inf_count != count_value) {
      return absl::InvalidArgumentError(family + ": +Inf bucket != _count");
    }
  }
  return e;
}

}  // namespace taala::test

#endif  // TAALA_TESTS_INTEGRATION_PROMETHEUS_PARSER_H_
