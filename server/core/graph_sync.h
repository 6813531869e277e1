#ifndef TAALA_SERVER_CORE_GRAPH_SYNC_H_
#define TAALA_SERVER_CORE_GRAPH_SYNC_H_

// The glue between a shard's keys and the wait-for graph: who blocks a key's
// waiters, and keeping the graph's view of that current.
//
// Thread safety: REQUIRES the shard's mutex for the key map and hierarchy
// passed in; the graph's own mutex is a leaf taken inside its methods.

#include <string>
#include <vector>

#include "server/core/hierarchy.h"
#include "server/core/key_state.h"
#include "server/core/wait_for_graph.h"

namespace taala {
namespace table_internal {

// What blocks the key's waiters, as wait-for graph parties: its holders,
// its ancestors' holders and the sessions holding keys below it.
std::vector<WaitForGraph::Party> GraphHolders(const KeyMap& keys,
                                              const std::string& key,
                                              const KeyState& state);

// Refreshes the graph's view of what blocks the waiters of `key` and of its
// related keys (see Hierarchy::RelatedKeys).
void SyncGraph(WaitForGraph& graph, const KeyMap& keys, const Hierarchy& tree,
               const std::string& key);

}  // namespace table_internal
}  // namespace taala

#endif  // TAALA_SERVER_CORE_GRAPH_SYNC_H_
