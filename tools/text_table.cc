#include "tools/text_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "tools/utf8.h"

namespace taala::tools {

TextTable::TextTable(std::vector<std::string> header) {
  AddRow(std::move(header));
}

void TextTable::AddRow(std::vector<std::string> cells) {
  const size_t columns = rows_.empty() ? cells.size() : rows_[0].size();
  cells.resize(columns);
  for (std::string& cell : cells) cell = TerminalSafe(cell);
  rows_.push_back(std::move(cells));
}

std::string TextTable::Render() const {
  const size_t columns = rows_[0].size();
  std::vector<size_t> width(columns, 0);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < columns; ++c) {
      width[c] = std::max(width[c], DisplayWidth(row[c]));
    }
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (size_t c = 0; c < columns; ++c) {
      line += row[c];
      if (c + 1 < columns) {
        line.append(width[c] - DisplayWidth(row[c]) + 2, ' ');
      }
    }
    // No trailing blanks when the last cells are empty.
    line.erase(line.find_last_not_of(' ') + 1);
    out += line;
    out += '\n';
  }
  return out;
}

namespace {

// Invisible code points that change what the reader sees without being
// controls: bidi marks, embeddings, overrides and isolates reorder the text
// around them ("Trojan Source"); U+2028/U+2029 break the line in many
// terminals and viewers; U+FEFF hides between characters.
bool IsFormatControl(int32_t cp) {
  return cp == 0x061c || cp == 0x200e || cp == 0x200f ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0xfeff;
}

}  // namespace

std::string TerminalSafe(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  ForEachCodePoint(s, [&out](absl::string_view bytes, int32_t cp) {
    if (cp < 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
      for (char b : bytes) {
        absl::StrAppendFormat(&out, "\\x%02x", static_cast<uint8_t>(b));
      }
    } else if (IsFormatControl(cp)) {
      absl::StrAppendFormat(&out, "\\u{%04X}", cp);
    } else if (cp == '\\') {
      out += "\\\\";
    } else {
      out.append(bytes.data(), bytes.size());
    }
  });
  return out;
}

size_t DisplayWidth(absl::string_view s) {
  size_t n = 0;
  ForEachCodePoint(s, [&n](absl::string_view, int32_t) { ++n; });
  return n;
}

std::string FormatMs(int64_t ms) {
  if (ms < 0) ms = 0;
  if (ms < 1000) return absl::StrCat(ms, "ms");
  if (ms < 60 * 1000) {
    if (ms % 1000 == 0) return absl::StrCat(ms / 1000, "s");
    return absl::StrFormat("%d.%ds", ms / 1000, (ms % 1000) / 100);
  }
  const int64_t s = ms / 1000;
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
}

std::string FormatMsExact(int64_t ms) {
  if (ms <= 0) return "0ms";
  return absl::FormatDuration(absl::Milliseconds(ms));
}

}  // namespace taala::tools
