// File: tools/text_table.h
// -----------------------------------------------------------------------------
// taalactl's human-readable output: aligned tables and short durations.

#ifndef TAALA_TOOLS_TEXT_TABLE_H_
#define TAALA_TOOLS_TEXT_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace taala::tools {

// Columns separated by two spaces, each as wide as its widest cell (counted
// in code points); the last column is not padded. Cells go through
// TerminalSafe, so a client name cannot move the cursor or break a row.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header);
  // Missing cells are empty; extra cells are dropped.
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  // The header and every row, each line ending in '\n'.
  std::string Render() const;

 private:
  std::vector<std::vector<std::string>> rows_;  // rows_[0] is the header.
};

// `s` with control characters (C0, DEL, C1) and ill-formed UTF-8 bytes
// written as \xNN, bidi controls, U+2028, U+2029 and U+FEFF as \u{XXXX},
// and backslashes doubled, so it prints as one line, in the order it has.
std::string TerminalSafe(absl::string_view s);

// Code points in `s` (ill-formed bytes count one each).
size_t DisplayWidth(absl::string_view s);

// A duration in milliseconds, short: "850ms", "12.3s", "10s", "4m05s",
// "2h03m". Negative values print as "0ms".
std::string FormatMs(int64_t ms);
// A configured value (a lock policy's) exactly, in the file's own syntax:
// 1050 -> "1.05s", 61500 -> "1m1.5s", 500 -> "500ms". Negative: "0ms".
std::string FormatMsExact(int64_t ms);

}  // namespace taala::tools

#endif  // TAALA_TOOLS_TEXT_TABLE_H_
