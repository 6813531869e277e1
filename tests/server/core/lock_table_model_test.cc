// Random operations against a reference model.

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::LockTableTest;
using ::taala::test::RecordingWaiter;
using ::taala::test::StatusIs;
using ::taala::test::WithMode;

// Random operation sequences against the lock table and a small, obviously
// correct model of the same rules; every answer and every queue must agree.
class Model {
 public:
  struct Hold {
    uint64_t session;
    LockMode mode;
  };
  struct Wait {
    uint64_t session;
    LockMode mode;
    bool upgrade;
    uint64_t seq;
  };
  struct Key {
    std::vector<Hold> holders;
    std::deque<Wait> queue;  // By seq.
  };
  enum class Answer { kAcquired, kAlreadyHeld, kNotAcquired, kQueued, kAborted };

  Answer Acquire(uint64_t s, const std::string& k, LockMode m, bool try_only) {
    Key& key = keys_[k];
    const Hold* mine = nullptr;
    for (const Hold& h : key.holders) {
      if (h.session == s) mine = &h;
    }
    const bool upgrade = mine != nullptr && mine->mode == LockMode::kShared &&
                         m == LockMode::kExclusive;
    if (mine != nullptr && !upgrade) return Answer::kAlreadyHeld;
    if (upgrade && !key.queue.empty() && key.queue.front().upgrade &&
        key.queue.front().session != s) {
      return Answer::kAborted;  // Two upgraders: a deadlock.
    }
    const bool head_free =
        key.queue.empty() || (upgrade && !key.queue.front().upgrade);
    if (head_free && Fits(k, s, m, upgrade, upgrade ? next_upgrade_ : kNew)) {
      Grant(key, s, m, upgrade);
      return Answer::kAcquired;
    }
    if (try_only) return Answer::kNotAcquired;
    // Enqueue tentatively; a wait that closes a cycle is refused.
    const uint64_t seq = upgrade ? next_upgrade_ : next_seq_;
    if (upgrade) {
      key.queue.push_front(Wait{s, m, true, seq});
    } else {
      key.queue.push_back(Wait{s, m, false, seq});
    }
    if (WaitsOnItself(s)) {
      if (upgrade) {
        key.queue.pop_front();
      } else {
        key.queue.pop_back();
      }
      return Answer::kAborted;
    }
    (upgrade ? next_upgrade_ : next_seq_)++;
    return Answer::kQueued;
  }

  bool Release(uint64_t s, const std::string& k) {
    Key& key = keys_[k];
    for (auto it = key.holders.begin(); it != key.holders.end(); ++it) {
      if (it->session == s) {
        key.holders.erase(it);
        GrantAll();
        return true;
      }
    }
    return false;
  }

  void Cancel(uint64_t s, const std::string& k) {
    Key& key = keys_[k];
    for (auto it = key.queue.begin(); it != key.queue.end(); ++it) {
      if (it->session == s) {
        key.queue.erase(it);
        GrantAll();
        return;
      }
    }
  }

  const Key& key(const std::string& k) { return keys_[k]; }
  bool Waits(uint64_t s, const std::string& k) {
    for (const Wait& w : keys_[k].queue) {
      if (w.session == s) return true;
    }
    return false;
  }

 private:
  static constexpr uint64_t kNew = ~uint64_t{0};

  static bool Conflict(LockMode a, LockMode b) {
    return a == LockMode::kExclusive || b == LockMode::kExclusive;
  }
  static bool Below(const std::string& low, const std::string& high) {
    return low.size() > high.size() && low.compare(0, high.size(), high) == 0 &&
           low[high.size()] == '/';
  }

  // Sessions that block `s` waiting (or asking) for `k` in mode `m` at queue
  // position `seq`: conflicting holders of the key, of its ancestors and of
  // keys below it, conflicting waiters ahead in its queue and in its
  // ancestors' queues. Written from the rules, not from the table's code.
  std::vector<uint64_t> Blockers(const std::string& k, uint64_t s, LockMode m,
                                 bool upgrade, uint64_t seq) {
    std::vector<uint64_t> out;
    for (const auto& [name, key] : keys_) {
      const bool self = name == k;
      const bool above = Below(k, name);
      const bool below = Below(name, k);
      if (!self && !above && !below) continue;
      for (const Hold& h : key.holders) {
        if (h.session != s && Conflict(m, h.mode)) out.push_back(h.session);
      }
      if (self || above) {
        for (const Wait& w : key.queue) {
          if (w.seq < seq && w.session != s && Conflict(m, w.mode)) {
            out.push_back(w.session);
          }
        }
      }
    }
    (void)upgrade;
    return out;
  }

  bool Fits(const std::string& k, uint64_t s, LockMode m, bool upgrade,
            uint64_t seq) {
    // Only holders and ancestors' queues decide here; the key's own queue
    // order is the caller's business (head_free, or being the head).
    for (const auto& [name, key] : keys_) {
      const bool self = name == k;
      const bool above = Below(k, name);
      const bool below = Below(name, k);
      if (!self && !above && !below) continue;
      for (const Hold& h : key.holders) {
        if (self && upgrade && h.session == s) continue;
        if (!self && h.session == s) continue;
        if (self && h.session == s) continue;
        if (Conflict(m, h.mode)) return false;
      }
      if (above) {
        for (const Wait& w : key.queue) {
          if (w.seq < seq && w.session != s && Conflict(m, w.mode)) {
            return false;
          }
        }
      }
    }
    return true;
  }

  static void Grant(Key& key, uint64_t s, LockMode m, bool upgrade) {
    for (Hold& h : key.holders) {
      if (upgrade && h.session == s) {
        h.mode = m;
        return;
      }
    }
    key.holders.push_back(Hold{s, m});
  }

  // FIFO across all keys: the ready head with the lowest position first.
  void GrantAll() {
    while (true) {
      Key* best = nullptr;
      std::string best_name;
      for (auto& [name, key] : keys_) {
        if (key.queue.empty()) continue;
        const Wait& w = key.queue.front();
        if (best != nullptr && w.seq >= best->queue.front().seq) continue;
        if (!Fits(name, w.session, w.mode, w.upgrade, w.seq)) continue;
        best = &key;
        best_name = name;
      }
      if (best == nullptr) return;
      const Wait w = best->queue.front();
      best->queue.pop_front();
      Grant(*best, w.session, w.mode, w.upgrade);
    }
  }

  // Whether `s` transitively waits for itself. Recomputed from scratch.
  bool WaitsOnItself(uint64_t s) {
    std::set<uint64_t> seen;
    std::vector<uint64_t> todo = {s};
    bool first = true;
    while (!todo.empty()) {
      const uint64_t x = todo.back();
      todo.pop_back();
      if (!first && x == s) return true;
      first = false;
      for (const auto& [name, key] : keys_) {
        for (const Wait& w : key.queue) {
          if (w.session != x) continue;
          for (uint64_t b : Blockers(name, x, w.mode, w.upgrade, w.seq)) {
            if (b == s || seen.insert(b).second) todo.push_back(b);
          }
        }
      }
    }
    return false;
  }

  std::map<std::string, Key> keys_;
  uint64_t next_upgrade_ = 1;
  uint64_t next_seq_ = uint64_t{1} << 62;
};

TEST_F(LockTableTest, RandomOperationsAgreeWithAReferenceModel) {
  std::mt19937 rng(::testing::UnitTest::GetInstance()->random_seed());
  // Flat keys, and one key in a tree (the hierarchy itself is covered by
  // the tests above; with several concurrent waits per session a grant in a
  // tree can complete a cycle, which this model does not follow).
  const std::vector<std::string> keys = {"k1", "k2", "t/a"};
  std::vector<uint64_t> sessions;
  for (int i = 0; i < 5; ++i) sessions.push_back(NewSession(absl::Hours(1)));
  Model model;
  // Every wait's waiter, by (session, key); a session waits at most once per
  // key here.
  std::map<std::pair<uint64_t, std::string>, std::unique_ptr<RecordingWaiter>>
      waits;
  std::map<std::pair<uint64_t, std::string>, uint64_t> tokens;

  for (int step = 0; step < 3000; ++step) {
    const uint64_t s = sessions[rng() % sessions.size()];
    const std::string& k = keys[rng() % keys.size()];
    const auto sk = std::make_pair(s, k);
    const int op = rng() % 10;
    SCOPED_TRACE(absl::StrCat("step ", step, " op ", op, " session ", s,
                              " key ", k));
    if (op < 6) {
      if (model.Waits(s, k)) continue;  // One wait per (session, key).
      const LockMode mode =
          rng() % 2 == 0 ? LockMode::kShared : LockMode::kExclusive;
      const bool try_only = rng() % 3 == 0;
      const Model::Answer expect = model.Acquire(s, k, mode, try_only);
      auto w = std::make_unique<RecordingWaiter>();
      auto got = table_.Acquire(
          WithMode(Cmd(s, k,
                       try_only ? absl::ZeroDuration()
                                : absl::InfiniteDuration()),
                   mode),
          w.get());
      switch (expect) {
        case Model::Answer::kAcquired:
        case Model::Answer::kAlreadyHeld:
          ASSERT_TRUE(got.has_value() && got->ok() && (*got)->acquired);
          EXPECT_EQ((*got)->already_held,
                    expect == Model::Answer::kAlreadyHeld);
          tokens[sk] = (*got)->grant.token;
          break;
        case Model::Answer::kNotAcquired:
          ASSERT_TRUE(got.has_value() && got->ok());
          EXPECT_FALSE((*got)->acquired);
          break;
        case Model::Answer::kQueued:
          ASSERT_FALSE(got.has_value());
          waits[sk] = std::move(w);
          break;
        case Model::Answer::kAborted:
          ASSERT_TRUE(got.has_value());
          EXPECT_THAT(*got, StatusIs(absl::StatusCode::kAborted));
          break;
      }
    } else if (op < 9) {
      const bool expect = model.Release(s, k);
      const absl::Status st = Release(s, k, tokens.count(sk) ? tokens[sk] : 0);
      EXPECT_EQ(st.ok(), expect) << st;
    } else {
      model.Cancel(s, k);
      auto it = waits.find(sk);
      if (it != waits.end()) {
        table_.CancelWait(CancelWaitCmd{s, k, 0, it->second.get(),
                                        CancelReason::kCancelled,
                                        clock_.Now()});
      }
    }
    // Collect the grants the step handed to waiters.
    for (auto it = waits.begin(); it != waits.end();) {
      if (!it->second->done()) {
        ++it;
        continue;
      }
      if (it->second->granted()) tokens[it->first] = it->second->token();
      it = waits.erase(it);
    }
    // Holders and queues agree, in order.
    for (const std::string& key : keys) {
      absl::StatusOr<LockDescription> d = table_.Describe(key, 100);
      ASSERT_OK(d);
      const Model::Key& mk = model.key(key);
      std::map<uint64_t, LockMode> want, have;
      for (const auto& h : mk.holders) want[h.session] = h.mode;
      for (const auto& h : d->holders) have[h.grant.session_id] = h.grant.mode;
      ASSERT_EQ(want, have) << "holders of " << key;
      ASSERT_EQ(d->waiters.size(), mk.queue.size()) << "queue of " << key;
      for (size_t i = 0; i < mk.queue.size(); ++i) {
        ASSERT_EQ(d->waiters[i].session_id, mk.queue[i].session)
            << "queue of " << key << " at " << i;
      }
    }
  }
  table_.Shutdown();  // Ends the remaining waits.
}

}  // namespace
}  // namespace taala
