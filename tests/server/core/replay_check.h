#ifndef TAALA_TESTS_SERVER_CORE_REPLAY_CHECK_H_
#define TAALA_TESTS_SERVER_CORE_REPLAY_CHECK_H_

// Checks that the transition records a table emitted reproduce it: a
// DurableState folded from every record, and one folded from a snapshot
// taken midway plus the records after it, both equal the table's own export;
// and a new table restored from the fold exports the same again.
//
// Events: the fold keeps a session's recent events, acknowledged or not; a
// live mailbox keeps only the unacknowledged ones. Both are cut to the
// events the live table still holds before comparing.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/core/durable_state.h"
#include "server/core/lock_table.h"
#include "server/core/transition.h"

namespace taala::test {

// Folds a table's records as they are appended (MemoryLog's tap).
class FoldingTap {
 public:
  explicit FoldingTap(size_t max_events) { fold_.max_events = max_events; }
  void Attach(MemoryLog& log) {
    log.set_tap([this](const Transition& t) { Take(t); });
  }
  // From now on records are also kept apart, after a copy of the fold.
  void Snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    snapshot_ = fold_;
    snapshotted_ = true;
    tail_.clear();
  }
  // "" or what went wrong.
  std::string Check(LockTable& table, absl::Time now) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!rejected_.empty()) return rejected_;
    DurableState live = table.ExportState();
    DurableState fold = fold_;
    if (snapshotted_) {
      DurableState replay = snapshot_;
      for (const Transition& t : tail_) {
        if (!replay.Apply(t)) {
          return absl::StrCat("replay after the snapshot rejects ",
                              TransitionToString(t));
        }
      }
      if (!(replay == fold)) {
        return "snapshot + tail != fold:\n" + replay.Diff(fold);
      }
    }
    CutEventsTo(live, fold);
    if (!(fold == live)) return "fold != live table:\n" + fold.Diff(live);
    // Restored into a new table (same clock offset), it exports the same.
    MemoryLog log(table.log().LastLsn() + 1);
    LockTable::Options options = table.options();
    options.log = &log;
    LockTable restored(options);
    restored.Restore(fold_, now, absl::ZeroDuration(), true);
    restored.CheckInvariantsForTest();
    DurableState again = restored.ExportState();
    DurableState want = fold_;
    CutEventsTo(again, want);
    std::string diff;
    if (!(again == want)) diff = "restored table != fold:\n" + want.Diff(again);
    restored.Shutdown();
    return diff;
  }
  // The fold so far: what recovery would restore after a crash now.
  DurableState Fold() {
    std::lock_guard<std::mutex> lock(mu_);
    return fold_;
  }
  size_t records() {
    std::lock_guard<std::mutex> lock(mu_);
    return records_;
  }

 private:
  void Take(const Transition& t) {
    std::lock_guard<std::mutex> lock(mu_);
    ++records_;
    if (!fold_.Apply(t) && rejected_.empty()) {
      rejected_ = absl::StrCat("the fold rejects ", TransitionToString(t));
    }
    if (snapshotted_) tail_.push_back(t);
  }
  // Keeps in `fold` only the events `live` still holds (see above).
  static void CutEventsTo(DurableState& live, DurableState& fold) {
    for (auto& [id, s] : fold.sessions) {
      auto it = live.sessions.find(id);
      if (it == live.sessions.end()) continue;
      const auto& pending = it->second.events;
      const uint64_t first = pending.empty() ? s.last_event_sequence + 1
                                             : pending.front().sequence;
      while (!s.events.empty() && s.events.front().sequence < first) {
        s.events.pop_front();
      }
    }
  }

  std::mutex mu_;
  DurableState fold_;
  DurableState snapshot_;
  bool snapshotted_ = false;
  std::vector<Transition> tail_;
  size_t records_ = 0;
  std::string rejected_;
};

}  // namespace taala::test

#endif  // TAALA_TESTS_SERVER_CORE_REPLAY_CHECK_H_
