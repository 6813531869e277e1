#ifndef TAALA_SERVER_CORE_TOP_N_H_
#define TAALA_SERVER_CORE_TOP_N_H_

// Paging helpers for listings gathered shard by shard: keep the first `want`
// items in order without sorting everything.

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <vector>

namespace taala {
namespace table_internal {

// Cuts `items` down to its `want` smallest, in no order.
template <typename T, typename Less>
void KeepSmallest(std::vector<T>& items, size_t want, Less less) {
  if (items.size() <= want) return;
  std::nth_element(items.begin(), items.begin() + want, items.end(), less);
  items.resize(want);
}

// Sorts `batch` and merges it into the sorted `found`, keeping the first
// `want`.
template <typename T, typename Less>
void MergeSmallest(std::vector<T>& found, std::vector<T> batch, size_t want,
                   Less less) {
  if (batch.empty()) return;
  std::sort(batch.begin(), batch.end(), less);
  const size_t middle = found.size();
  found.insert(found.end(), std::make_move_iterator(batch.begin()),
               std::make_move_iterator(batch.end()));
  std::inplace_merge(found.begin(), found.begin() + middle, found.end(), less);
  if (found.size() > want) found.resize(want);
}

}  // namespace table_internal
}  // namespace taala

#endif  // TAALA_SERVER_CORE_TOP_N_H_
