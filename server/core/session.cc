#include "server/core/session.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/core/key.h"

namespace taala {
namespace table_internal {

std::shared_ptr<const Labels> SharedLabels(Labels labels) {
  if (labels.empty()) {
    static const std::shared_ptr<const Labels>* const kEmpty =
        new std::shared_ptr<const Labels>(std::make_shared<const Labels>());
    return *kEmpty;
  }
  return std::make_shared<const Labels>(std::move(labels));
}

std::string SessionNotFound(uint64_t session_id) {
  return absl::StrCat("session ", session_id,
                      " not found (expired, closed or never created)");
}

absl::Status ValidateSessionRequest(const CreateSessionCmd& cmd,
                                    const SessionLimits& limits) {
  if (cmd.ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ttl_ms: must not be negative (got ", absl::ToInt64Milliseconds(cmd.ttl),
        ")"));
  }
  if (cmd.client_name.size() > limits.max_client_name_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("client_name: ", cmd.client_name.size(),
                     " bytes exceeds the limit of ",
                     limits.max_client_name_bytes));
  }
  if (!IsValidUtf8(cmd.client_name)) {
    return absl::InvalidArgumentError("client_name: not valid UTF-8");
  }
  if (cmd.labels.size() > limits.max_labels) {
    return absl::InvalidArgumentError(
        absl::StrCat("labels: ", cmd.labels.size(),
                     " labels exceeds the limit of ", limits.max_labels));
  }
  for (const auto& [k, v] : cmd.labels) {
    if (k.empty() || k.size() > limits.max_label_bytes ||
        v.size() > limits.max_label_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "labels: label ", Quote(k.substr(0, 64)),
          " must have a non-empty name and name and value of at most ",
          limits.max_label_bytes, " bytes"));
    }
  }
  return absl::OkStatus();
}

}  // namespace table_internal
}  // namespace taala
