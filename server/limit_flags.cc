#include "server/limit_flags.h"

#include <cstdint>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(int64_t, max_sessions_per_identity, 10000,
          "Most live sessions one identity may have (anonymous clients: one "
          "identity per peer address).");
ABSL_FLAG(int64_t, max_held_per_identity, 100000,
          "Most keys all sessions of one identity may hold, wait for or "
          "keep in a lock-delay (a delay counts for its last holder).");
ABSL_FLAG(int64_t, max_waiters_per_identity, 10000,
          "Most waiting acquires of all sessions of one identity.");
ABSL_FLAG(int64_t, max_waiters_per_key, 10000,
          "Most waiting acquires queued on one key.");
ABSL_FLAG(int64_t, max_held_per_session, 100000,
          "Most keys one session may hold or wait for.");
ABSL_FLAG(int64_t, max_waiters_per_session, 10000,
          "Most keys one session may wait for at once.");
ABSL_FLAG(int64_t, max_keys, 1000000,
          "Most keys in the lock table (held, waited on, in a lock-delay, or "
          "an ancestor of such a key); an acquire of a new key past it is "
          "refused.");

namespace taala {
namespace {

absl::Status Positive(const char* name, int64_t value, size_t* out) {
  if (value < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be >= 1 (got ", value, ")"));
  }
  *out = static_cast<size_t>(value);
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyLimitFlags(LockTable::Options* options) {
  TableLimits& l = options->limits;
  struct Flag {
    const char* name;
    int64_t value;
    size_t* out;
  };
  const Flag flags[] = {
      {"max_sessions_per_identity",
       absl::GetFlag(FLAGS_max_sessions_per_identity),
       &l.max_sessions_per_identity},
      {"max_held_per_identity", absl::GetFlag(FLAGS_max_held_per_identity),
       &l.max_held_per_identity},
      {"max_waiters_per_identity",
       absl::GetFlag(FLAGS_max_waiters_per_identity),
       &l.max_waiters_per_identity},
      {"max_waiters_per_key", absl::GetFlag(FLAGS_max_waiters_per_key),
       &l.max_waiters_per_key},
      {"max_held_per_session", absl::GetFlag(FLAGS_max_held_per_session),
       &l.max_held_per_session},
      {"max_waiters_per_session", absl::GetFlag(FLAGS_max_waiters_per_session),
       &l.max_waiters_per_session},
      {"max_keys", absl::GetFlag(FLAGS_max_keys), &l.max_keys},
  };
  for (const Flag& f : flags) {
    if (absl::Status s = Positive(f.name, f.value, f.out); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace taala
