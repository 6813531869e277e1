#include "server/core/session.h"

#include "absl/strings/str_cat.h"

namespace taala {

std::string SessionNotFound(uint64_t session_id) {
  return absl::StrCat("session ", session_id,
                      " not found (expired, closed or never created)");
}

std::string Quote(absl::string_view key) {
  return absl::StrCat("\"", key, "\"");
}

}  // namespace taala
