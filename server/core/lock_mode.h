#ifndef TAALA_SERVER_CORE_LOCK_MODE_H_
#define TAALA_SERVER_CORE_LOCK_MODE_H_

// The modes a key can be held in, and the one rule of which conflict. Used
// by the lock table's key state, its hierarchy checks and the wait-for graph.

namespace taala {

enum class LockMode { kExclusive, kShared };

// Two grants (or a grant and a request) conflict unless both are SHARED.
inline bool Conflict(LockMode a, LockMode b) {
  return a == LockMode::kExclusive || b == LockMode::kExclusive;
}

// "EXCLUSIVE", "SHARED" (for messages and introspection).
inline const char* LockModeName(LockMode mode) {
  switch (mode) {
    case LockMode::kExclusive:
      return "EXCLUSIVE";
    case LockMode::kShared:
      return "SHARED";
  }
  return "UNKNOWN";
}

}  // namespace taala

#endif  // TAALA_SERVER_CORE_LOCK_MODE_H_
