#ifndef TAALA_SERVER_JSON_LOG_FORMATTER_H_
#define TAALA_SERVER_JSON_LOG_FORMATTER_H_

// taalad --log_format=json: one JSON object a line, for log collectors.
//   {"time":"2026-12-01T23:22:12.123Z","level":"info","message":"..."}
// time is UTC with milliseconds (RFC 3339); level is spdlog's name (trace,
// debug, info, warning, error, critical); message is escaped as JSON
// (quotes, backslashes, control characters; bytes that are not UTF-8
// become U+FFFD), so a key or client name can never break the line.

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "spdlog/formatter.h"

namespace taala {

class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

// `text` as the inside of a JSON string (no surrounding quotes).
std::string JsonEscape(absl::string_view text);

}  // namespace taala

#endif  // TAALA_SERVER_JSON_LOG_FORMATTER_H_
