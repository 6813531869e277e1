#ifndef TAALA_SERVER_CORE_SPACE_SAVING_H_
#define TAALA_SERVER_CORE_SPACE_SAVING_H_

// The space-saving top-K (Metwally, Agrawal, El Abbadi 2005): a fixed number
// of entries, each a tracked name with its count and figures. A name that is
// not tracked takes the place of the entry with the lowest count c: it
// starts at c + 1 with error bound c (it may have occurred up to c times
// before), and that entry's figures are reset. Every name that occurred
// more than N / capacity times in a stream of N is tracked, and a tracked
// count overestimates the true one by at most its error bound. Memory is
// fixed by the capacity, whatever the number of distinct names.
//
// Thread safety: none; the owner's mutex guards it.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace taala {

template <typename Figures>
class SpaceSaving {
 public:
  struct Entry {
    std::string name;
    uint64_t count = 0;
    uint64_t error = 0;
    absl::Time since;  // When this name's tracking began.
    Figures figures;
  };

  explicit SpaceSaving(size_t capacity) : capacity_(capacity) {
    // Never reallocated: the index points into the entries' names.
    entries_.reserve(capacity_);
    index_.reserve(capacity_);
  }
  SpaceSaving(const SpaceSaving&) = delete;
  SpaceSaving& operator=(const SpaceSaving&) = delete;

  // Counts one occurrence of `name` at `now` and returns its entry (which
  // may have just replaced the least counted one).
  Entry& Count(absl::string_view name, absl::Time now) {
    auto it = index_.find(name);
    if (it != index_.end()) {
      Entry& e = entries_[it->second];
      ++e.count;
      return e;
    }
    uint32_t slot;
    if (entries_.size() < capacity_) {
      slot = static_cast<uint32_t>(entries_.size());
      entries_.emplace_back();
    } else {
      slot = LeastCountedSlot();
      index_.erase(entries_[slot].name);
    }
    Entry& e = entries_[slot];
    e.error = e.count;  // 0 for a fresh slot.
    e.count = e.error + 1;
    e.name.assign(name.data(), name.size());
    e.since = now;
    e.figures = Figures();
    index_.emplace(e.name, slot);
    return e;
  }

  // The entry of `name` if it is tracked, else null.
  Entry* Find(absl::string_view name) {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
  }
  const Entry* Find(absl::string_view name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
  }

  const std::vector<Entry>& entries() const { return entries_; }
  size_t capacity() const { return capacity_; }

 private:
  // A slot with the lowest count. Counts only grow, so the slots found at
  // the lowest count by one scan stay candidates until their count moves:
  // each is checked (O(1)) when taken, and a new scan is made only when
  // none is left at that count. Under a stream of new names (every acquire
  // evicts), a scan yields every slot at the minimum, so eviction costs
  // O(1) amortized instead of a scan of every entry each time.
  uint32_t LeastCountedSlot() {
    while (!least_.empty()) {
      const uint32_t slot = least_.back();
      least_.pop_back();
      if (entries_[slot].count == least_count_) return slot;
    }
    least_count_ = entries_[0].count;
    for (uint32_t i = 1; i < entries_.size(); ++i) {
      least_count_ = std::min(least_count_, entries_[i].count);
    }
    // Lowest slot last, so taken first (as the plain scan did).
    for (uint32_t i = static_cast<uint32_t>(entries_.size()); i-- > 0;) {
      if (entries_[i].count == least_count_) least_.push_back(i);
    }
    const uint32_t slot = least_.back();
    least_.pop_back();
    return slot;
  }

  const size_t capacity_;
  std::vector<Entry> entries_;
  // Name -> slot; the views point into entries_[slot].name.
  absl::flat_hash_map<absl::string_view, uint32_t> index_;
  // Slots that had the lowest count, least_count_, at the last scan.
  std::vector<uint32_t> least_;
  uint64_t least_count_ = 0;
};

}  // namespace taala

#endif  // TAALA_SERVER_CORE_SPACE_SAVING_H_
