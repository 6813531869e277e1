#include "server/core/table_limits.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace taala {
namespace table_internal {

absl::Status LimitReached(absl::string_view flag, size_t value,
                          absl::string_view what) {
  return absl::ResourceExhaustedError(
      absl::StrCat("limit --", flag, "=", value, " reached: ", what));
}

void MemoryGate::Set(bool over, std::string message) {
  {
    absl::MutexLock lock(&mu_);
    message_ = std::move(message);
  }
  over_.store(over, std::memory_order_relaxed);
}

absl::Status MemoryGate::Refusal() {
  absl::MutexLock lock(&mu_);
  return absl::ResourceExhaustedError(
      message_.empty() ? std::string("limit --memory_budget reached")
                       : message_);
}

}  // namespace table_internal
}  // namespace taala
