#include "server/core/graph_sync.h"

#include "server/core/key.h"

namespace taala {
namespace table_internal {

std::vector<WaitForGraph::Party> GraphHolders(const KeyMap& keys,
                                              const std::string& key,
                                              const KeyState& state) {
  std::vector<WaitForGraph::Party> parties;
  parties.reserve(state.holders.size());
  for (const Holder& h : state.holders) {
    parties.push_back(
        WaitForGraph::Party{h.session->id, h.session->client_name, h.mode});
  }
  // Hierarchy: holders below the key block it like holders of it, in their
  // strongest mode; holders of its ancestors too.
  for (const auto& [session, below] : state.below) {
    parties.push_back(WaitForGraph::Party{
        session->id, session->client_name,
        below.exclusive > 0 ? LockMode::kExclusive : LockMode::kShared});
  }
  for (absl::string_view a : Ancestors(key)) {
    auto it = keys.find(a);
    if (it == keys.end()) continue;
    for (const Holder& h : it->second.holders) {
      parties.push_back(
          WaitForGraph::Party{h.session->id, h.session->client_name, h.mode});
    }
  }
  return parties;
}

void SyncGraph(WaitForGraph& graph, const KeyMap& keys, const Hierarchy& tree,
               const std::string& key) {
  for (const std::string& k : tree.RelatedKeys(key)) {
    auto it = keys.find(k);
    if (it != keys.end() && !it->second.waiters.empty()) {
      graph.SetHolders(k, GraphHolders(keys, k, it->second));
    }
  }
}

}  // namespace table_internal
}  // namespace taala
