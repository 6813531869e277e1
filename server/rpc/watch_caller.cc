#include "server/rpc/watch_caller.h"

#include <optional>

#include "absl/status/statusor.h"

namespace taala {

absl::Status WatchCaller::Check() {
  if (gate_ == nullptr || !refused_.ok()) return refused_;
  const uint64_t now = gate_->config_version();
  if (now == version_) return absl::OkStatus();
  version_ = now;  // Read before the config Recheck uses.
  absl::StatusOr<auth::Identity> who =
      gate_->Recheck(*ctx_, auth::Permission::kRead, key_);
  if (!who.ok()) {
    // The stream's mutex is no table's or hub's: the audit log may be
    // written under it.
    gate_->NoteRefused(who_, "Watch", key_, who.status());
    refused_ = who.status();  // Audited once; the stream is ending.
    return refused_;
  }
  who_ = *std::move(who);
  return absl::OkStatus();
}

}  // namespace taala
