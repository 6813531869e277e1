// A reference model of the lock table's rules for
// lock_table_model_test.cc: its own plain data (holders and FIFO lists per
// key, one global search for the ready head, its own cycle search), written
// from SPEC §2-§4 and issue 8's rules, not from the table's code. Slow and
// obvious on purpose.

#ifndef TAALA_TESTS_SERVER_CORE_REFERENCE_MODEL_H_
#define TAALA_TESTS_SERVER_CORE_REFERENCE_MODEL_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "server/core/lock_mode.h"

namespace taala::model {

// The rules the model checks that today's table breaks (issue 8); each is
// on only once its fix is in the tree. Off, the driver never generates the
// operations that would show the difference.
struct Features {
  bool retry_other_mode = false;         // Item 1.
  bool undo_upgrade = false;             // Item 3.
  bool segment_order = false;            // Item 7.
  bool release_request_dedupe = false;   // Item 8.
  bool tree_delay = false;               // Item 9.
  bool expired_lease = false;            // Item 11.
  bool release_while_upgrading = false;  // Item 14.
};

enum class Outcome {
  kGranted,
  kAlreadyHeld,
  kNotAcquired,
  kQueued,
  kAborted,
  kCancelled,
  kNotFound,
  kFailedPrecondition,
};

inline const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kGranted: return "granted";
    case Outcome::kAlreadyHeld: return "already held";
    case Outcome::kNotAcquired: return "not acquired";
    case Outcome::kQueued: return "queued";
    case Outcome::kAborted: return "ABORTED";
    case Outcome::kCancelled: return "CANCELLED";
    case Outcome::kNotFound: return "NOT_FOUND";
    case Outcome::kFailedPrecondition: return "FAILED_PRECONDITION";
  }
  return "?";
}

// AcquireAll's order: segment by segment, so a key's subtree is contiguous
// and comes right after it (`a`, `a/b`, `a-x`).
inline bool SegmentLess(const std::string& a, const std::string& b) {
  std::vector<std::string> x = absl::StrSplit(a, '/');
  std::vector<std::string> y = absl::StrSplit(b, '/');
  return x < y;
}

class Model {
 public:
  struct Hold {
    uint64_t session;
    LockMode mode;
    absl::Time revoke_at;  // Max hold; InfiniteFuture: none.
    absl::Duration lock_delay;
    uint64_t gen;  // One per grant (the table's token).
    absl::Time granted_at;
  };
  struct Wait {
    uint64_t session;
    LockMode mode;
    bool upgrade;
    uint64_t seq;
    int id;  // The caller's: a single wait's or an AcquireAll's.
    bool multi;
    bool leaving;  // Its caller leaves while the grant is delivered.
    absl::Duration max_hold, lock_delay;
  };
  struct Key {
    std::vector<Hold> holders;
    std::deque<Wait> queue;  // By seq.
    absl::Time delayed_until = absl::InfinitePast();
    // The part of the delay that a lost EXCLUSIVE grant started: in the
    // tree it blocks every mode; the rest blocks only EXCLUSIVE (item 9).
    absl::Time excl_delayed_until = absl::InfinitePast();
  };
  struct Request {
    uint64_t session = 0;
    std::string key;
    LockMode mode = LockMode::kExclusive;
    bool try_only = false;
    bool request_release = false;
    absl::Duration max_hold, lock_delay;
    int id = 0;
    bool multi = false;
    bool leaving = false;
  };
  // What a caller is told once its wait ends.
  struct Completion {
    int id;
    bool multi;
    Outcome outcome;
    uint64_t session;
    std::string key;
    bool leaving = false;
    bool upgrade = false;
    std::optional<Hold> prior;  // An upgrade's SHARED grant.
    uint64_t gen = 0;

    Completion(int id, bool multi, Outcome outcome, uint64_t session,
               std::string key)
        : id(id), multi(multi), outcome(outcome), session(session),
          key(std::move(key)) {}
  };

  explicit Model(Features f) : f_(f) {}

  const Features& features() const { return f_; }
  absl::Time now() const { return now_; }
  void set_now(absl::Time t) { now_ = t; }

  void AddSession(uint64_t s, absl::Duration ttl) {
    sessions_[s] = Sess{ttl, now_ + ttl, false};
  }
  bool KeepAlive(uint64_t s) {
    Sess& ss = sessions_[s];
    if (ss.ended || ss.expires_at <= now_) return false;
    ss.expires_at = std::max(ss.expires_at, now_ + ss.ttl);
    return true;
  }
  bool Ended(uint64_t s) { return sessions_[s].ended; }
  absl::Time ExpiresAt(uint64_t s) { return sessions_[s].expires_at; }

  Key& key(const std::string& k) { return keys_[k]; }
  // The key `s` waits on, if any (at most one here).
  const std::string* WaitingOn(uint64_t s) const {
    auto it = waiting_.find(s);
    return it == waiting_.end() ? nullptr : &it->second;
  }
  const Wait* WaitOf(uint64_t s) {
    const std::string* k = WaitingOn(s);
    if (k == nullptr) return nullptr;
    for (const Wait& w : keys_[*k].queue) {
      if (w.session == s) return &w;
    }
    return nullptr;
  }
  const Hold* HoldOf(uint64_t s, const std::string& k) {
    for (const Hold& h : keys_[k].holders) {
      if (h.session == s) return &h;
    }
    return nullptr;
  }
  // Finished waits and AcquireAlls, by id (the driver takes them).
  std::map<int, Outcome>& outcomes() { return outcomes_; }
  // Release requests: holder grants asked (session, key, gen).
  const std::map<std::pair<uint64_t, std::string>, std::set<uint64_t>>&
  asked() const {
    return asked_;
  }

  Outcome Acquire(const Request& r) {
    std::vector<Completion> out;
    const Outcome o = AcquireInto(r, out);
    Run(out);
    return o;
  }

  bool Release(uint64_t s, const std::string& k) {
    Key& key = keys_[k];
    for (auto it = key.holders.begin(); it != key.holders.end(); ++it) {
      if (it->session != s) continue;
      key.holders.erase(it);
      std::vector<Completion> out;
      if (f_.release_while_upgrading) DemoteUpgrade(s, k, out);
      GrantAll(out);
      Run(out);
      return true;
    }
    return false;
  }

  void Cancel(uint64_t s) {
    std::vector<Completion> out;
    DropWait(s, Outcome::kCancelled, out);
    Run(out);
  }

  void StartMulti(int id, uint64_t s,
                  std::vector<std::pair<std::string, LockMode>> keys,
                  absl::Duration max_hold,
                  std::map<std::string, absl::Duration> lock_delays = {}) {
    std::sort(keys.begin(), keys.end(), [&](const auto& a, const auto& b) {
      return f_.segment_order ? SegmentLess(a.first, b.first)
                              : a.first < b.first;
    });
    Multi& m = multis_[id];
    m.session = s;
    m.steps = std::move(keys);
    m.max_hold = max_hold;
    m.lock_delays = std::move(lock_delays);
    RunMulti(id);
  }

  // taalad crashed and recovered (LockTable::Restore): every wait and
  // AcquireAll in flight died with its RPC (its caller sees UNAVAILABLE, no
  // outcome here); grants an AcquireAll had taken so far stay, as their
  // records do; every live session's lease restarts at now + ttl + grace.
  // Call with now set to the instant of recovery.
  void Restart(absl::Duration grace) {
    for (auto& [name, key] : keys_) key.queue.clear();
    waiting_.clear();
    multis_.clear();
    for (auto& [s, ss] : sessions_) {
      if (!ss.ended) ss.expires_at = now_ + ss.ttl + grace;
    }
  }

  // The next instant a timer changes something, or InfiniteFuture.
  absl::Time NextEvent() const {
    absl::Time t = absl::InfiniteFuture();
    for (const auto& [name, key] : keys_) {
      for (const Hold& h : key.holders) t = std::min(t, h.revoke_at);
      if (key.delayed_until != absl::InfinitePast()) {
        t = std::min(t, key.delayed_until);
      }
      if (key.excl_delayed_until != absl::InfinitePast()) {
        t = std::min(t, key.excl_delayed_until);
      }
    }
    for (const auto& [s, ss] : sessions_) {
      if (!ss.ended) t = std::min(t, ss.expires_at);
    }
    return t;
  }
  // Sessions whose lease runs out at `t`.
  std::vector<uint64_t> ExpiringAt(absl::Time t) const {
    std::vector<uint64_t> out;
    for (const auto& [s, ss] : sessions_) {
      if (!ss.ended && ss.expires_at <= t) out.push_back(s);
    }
    return out;
  }

  // An operator takes `k` from its holders (every one, or only `s`'s): each
  // a revocation, in holder order, with its lock-delay unless
  // `skip_delay`; then the queues move. Returns how many grants it took
  // (0: NOT_FOUND).
  size_t ForceRelease(const std::string& k, uint64_t s, bool skip_delay) {
    Key& key = keys_[k];
    std::vector<Completion> out;
    size_t taken = 0;
    for (size_t i = 0; i < key.holders.size();) {
      if (s != 0 && key.holders[i].session != s) {
        ++i;
        continue;
      }
      const uint64_t holder = key.holders[i].session;
      if (!skip_delay) StartDelay(key, key.holders[i]);
      key.holders.erase(key.holders.begin() + i);
      if (f_.release_while_upgrading) DemoteUpgrade(holder, k, out);
      ++taken;
    }
    if (taken > 0) GrantAll(out);
    Run(out);
    return taken;
  }

  // An operator ends `s` as its lease running out would, with no
  // lock-delays if `skip_delay`. False (NOT_FOUND) if it had ended, or if
  // its lease had run out (it then ends as expired, delays and all).
  bool Revoke(uint64_t s, bool skip_delay) {
    Sess& ss = sessions_[s];
    if (ss.ended) return false;
    const bool lapsed = f_.expired_lease && ss.expires_at <= now_;
    ss.ended = true;
    std::vector<Completion> out;
    DropWait(s, Outcome::kNotFound, out);
    for (auto& [name, key] : keys_) {
      for (auto it = key.holders.begin(); it != key.holders.end(); ++it) {
        if (it->session != s) continue;
        if (!skip_delay || lapsed) StartDelay(key, *it);
        key.holders.erase(it);
        GrantAll(out);
        break;
      }
    }
    Run(out);
    return !lapsed;
  }

  // Everything due at `t` (the driver steps from instant to instant).
  void RunTimers(absl::Time t) {
    now_ = t;
    std::vector<Completion> out;
    for (auto& [name, key] : keys_) {
      for (size_t i = 0; i < key.holders.size(); ++i) {
        if (key.holders[i].revoke_at > t) continue;
        const uint64_t holder = key.holders[i].session;
        StartDelay(key, key.holders[i]);
        key.holders.erase(key.holders.begin() + i);
        if (f_.release_while_upgrading) DemoteUpgrade(holder, name, out);
        GrantAll(out);
        break;
      }
      if (key.excl_delayed_until != absl::InfinitePast() &&
          key.excl_delayed_until <= t) {
        key.excl_delayed_until = absl::InfinitePast();
        GrantAll(out);
      }
      if (key.delayed_until != absl::InfinitePast() &&
          key.delayed_until <= t) {
        key.delayed_until = absl::InfinitePast();
        GrantAll(out);
      }
    }
    for (uint64_t s : ExpiringAt(t)) {
      sessions_[s].ended = true;
      DropWait(s, Outcome::kNotFound, out);
      for (auto& [name, key] : keys_) {
        for (auto it = key.holders.begin(); it != key.holders.end(); ++it) {
          if (it->session != s) continue;
          StartDelay(key, *it);
          key.holders.erase(it);
          GrantAll(out);
          break;
        }
      }
    }
    Run(out);
  }

 private:
  static constexpr uint64_t kNew = ~uint64_t{0};

  struct Sess {
    absl::Duration ttl;
    absl::Time expires_at;
    bool ended;
  };
  struct Taken {
    std::string key;
    bool already_held;
    bool upgrade;
    std::optional<Hold> prior;
    uint64_t gen;
  };
  struct Multi {
    uint64_t session;
    std::vector<std::pair<std::string, LockMode>> steps;
    size_t next = 0;
    std::vector<Taken> taken;
    absl::Duration max_hold;
    // Keys with a lock-delay of their own (AcquireAll's per-key policies).
    std::map<std::string, absl::Duration> lock_delays;
  };

  static bool Below(const std::string& low, const std::string& high) {
    return low.size() > high.size() &&
           low.compare(0, high.size(), high) == 0 && low[high.size()] == '/';
  }

  void StartDelay(Key& key, const Hold& h) {
    if (h.lock_delay <= absl::ZeroDuration()) return;
    key.delayed_until = std::max(key.delayed_until, now_ + h.lock_delay);
    if (h.mode == LockMode::kExclusive) {
      key.excl_delayed_until =
          std::max(key.excl_delayed_until, now_ + h.lock_delay);
    }
  }

  Outcome AcquireInto(const Request& r, std::vector<Completion>& out) {
    last_prior_.reset();
    last_upgrade_ = false;
    Sess& ss = sessions_[r.session];
    if (ss.ended || (f_.expired_lease && ss.expires_at <= now_)) {
      return Outcome::kNotFound;
    }
    Key& key = keys_[r.key];
    const uint64_t s = r.session;
    Hold* mine = nullptr;
    for (Hold& h : key.holders) {
      if (h.session == s) mine = &h;
    }
    const bool upgrade = mine != nullptr && mine->mode == LockMode::kShared &&
                         r.mode == LockMode::kExclusive;
    if (mine != nullptr && !upgrade) return Outcome::kAlreadyHeld;
    Wait* own = nullptr;
    for (Wait& w : key.queue) {
      if (w.session == s) own = &w;
    }
    if (own != nullptr && own->mode != r.mode && f_.retry_other_mode) {
      return Outcome::kFailedPrecondition;
    }
    if (upgrade && own == nullptr && !key.queue.empty() &&
        key.queue.front().upgrade && key.queue.front().session != s) {
      return Outcome::kAborted;  // Two upgraders: a deadlock.
    }
    const bool head_free =
        key.queue.empty() || (upgrade && !key.queue.front().upgrade);
    if (head_free &&
        Fits(r.key, s, r.mode, upgrade, upgrade ? next_upgrade_ : kNew)) {
      last_upgrade_ = upgrade;
      last_prior_ = Grant(key, s, r.mode, upgrade, r.max_hold, r.lock_delay);
      last_gen_ = gen_;
      return Outcome::kGranted;
    }
    std::vector<std::pair<uint64_t, uint64_t>> ask;
    if (r.request_release) {
      for (const Hold& h : key.holders) {
        if (h.session != s) ask.emplace_back(h.session, h.gen);
      }
    }
    if (r.try_only) {
      Ask(r.key, ask);
      return Outcome::kNotAcquired;
    }
    if (own != nullptr) {  // A retry takes over the place.
      out.push_back(Completion{own->id, own->multi, Outcome::kCancelled, s,
                               r.key});
      own->id = r.id;
      own->multi = r.multi;
      own->leaving = r.leaving;
      own->max_hold = r.max_hold;
      own->lock_delay = r.lock_delay;
      Ask(r.key, ask);
      return Outcome::kQueued;
    }
    Wait w{s, r.mode, upgrade, upgrade ? next_upgrade_ : next_seq_, r.id,
           r.multi, r.leaving, r.max_hold, r.lock_delay};
    if (upgrade) {
      key.queue.push_front(w);
    } else {
      key.queue.push_back(w);
    }
    waiting_[s] = r.key;
    if (WaitsOnItself(s)) {
      if (upgrade) {
        key.queue.pop_front();
      } else {
        key.queue.pop_back();
      }
      waiting_.erase(s);
      return Outcome::kAborted;
    }
    (upgrade ? next_upgrade_ : next_seq_)++;
    Ask(r.key, ask);
    return Outcome::kQueued;
  }

  void Ask(const std::string& k,
           const std::vector<std::pair<uint64_t, uint64_t>>& ask) {
    for (const auto& [holder, gen] : ask) asked_[{holder, k}].insert(gen);
  }

  // Item 14's rule: a wait to upgrade a grant that was released meanwhile
  // is an ordinary wait, at the back of the queue.
  // Item 14: the SHARED grant under `s`'s upgrade wait on `k` is gone (a
  // release or a revocation): the wait becomes an ordinary EXCLUSIVE wait
  // at the back, or ABORTED if that place closes a cycle.
  void DemoteUpgrade(uint64_t s, const std::string& k,
                     std::vector<Completion>& out) {
    Key& key = keys_[k];
    for (auto it = key.queue.begin(); it != key.queue.end(); ++it) {
      if (it->session != s || !it->upgrade) continue;
      Wait w = *it;
      key.queue.erase(it);
      w.upgrade = false;
      w.seq = next_seq_;
      key.queue.push_back(w);
      if (WaitsOnItself(s)) {
        key.queue.pop_back();
        waiting_.erase(s);
        out.push_back(Completion{w.id, w.multi, Outcome::kAborted, s, k});
        return;
      }
      ++next_seq_;
      return;
    }
  }

  void DropWait(uint64_t s, Outcome why, std::vector<Completion>& out) {
    auto wk = waiting_.find(s);
    if (wk == waiting_.end()) return;
    Key& key = keys_[wk->second];
    for (auto it = key.queue.begin(); it != key.queue.end(); ++it) {
      if (it->session != s) continue;
      out.push_back(Completion{it->id, it->multi, why, s, wk->second});
      key.queue.erase(it);
      break;
    }
    waiting_.erase(wk);
    GrantAll(out);
  }

  // Sessions that block `s` waiting for `k` in mode `m` at queue position
  // `seq`: conflicting holders of the key, of its ancestors and of keys
  // below it; every waiter ahead in its queue (granted from the head only)
  // and conflicting waiters ahead in its ancestors'.
  std::vector<uint64_t> Blockers(const std::string& k, uint64_t s, LockMode m,
                                 uint64_t seq) {
    std::vector<uint64_t> out;
    for (const auto& [name, key] : keys_) {
      const bool self = name == k;
      const bool above = Below(k, name);
      if (!self && !above && !Below(name, k)) continue;
      for (const Hold& h : key.holders) {
        if (h.session != s && Conflict(m, h.mode)) out.push_back(h.session);
      }
      if (self || above) {
        for (const Wait& w : key.queue) {
          if (w.seq < seq && w.session != s && (self || Conflict(m, w.mode))) {
            out.push_back(w.session);
          }
        }
      }
    }
    return out;
  }

  // Whether the tree and the holders let `s` have `k` now (the key's own
  // queue order is the caller's business).
  bool Fits(const std::string& k, uint64_t s, LockMode m, bool upgrade,
            uint64_t seq) {
    (void)upgrade;
    for (const auto& [name, key] : keys_) {
      const bool self = name == k;
      const bool above = Below(k, name);
      const bool below = Below(name, k);
      if (!self && !above && !below) continue;
      // A lock-delay: on the key itself it grants nothing; in the tree it
      // blocks what would have conflicted with the lost grant (item 9).
      if (self && key.delayed_until > now_) return false;
      if (!self && f_.tree_delay) {
        if (key.excl_delayed_until > now_) return false;
        if (m == LockMode::kExclusive && key.delayed_until > now_) {
          return false;
        }
      }
      for (const Hold& h : key.holders) {
        if (h.session != s && Conflict(m, h.mode)) return false;
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

  // Returns the SHARED grant an upgrade replaced.
  std::optional<Hold> Grant(Key& key, uint64_t s, LockMode m, bool upgrade,
                            absl::Duration max_hold, absl::Duration delay) {
    const absl::Time revoke = max_hold > absl::ZeroDuration()
                                  ? now_ + max_hold
                                  : absl::InfiniteFuture();
    ++gen_;
    for (Hold& h : key.holders) {
      if (upgrade && h.session == s) {
        const Hold prior = h;
        h = Hold{s, m, revoke, delay, gen_, now_};
        return prior;
      }
    }
    key.holders.push_back(Hold{s, m, revoke, delay, gen_, now_});
    return std::nullopt;
  }

  // FIFO across all keys: the ready head with the lowest position first.
  void GrantAll(std::vector<Completion>& out) {
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
      waiting_.erase(w.session);
      Completion c{w.id, w.multi, Outcome::kGranted, w.session, best_name};
      c.leaving = w.leaving;
      c.upgrade = w.upgrade;
      c.prior = Grant(*best, w.session, w.mode, w.upgrade, w.max_hold,
                      w.lock_delay);
      c.gen = gen_;
      out.push_back(std::move(c));
    }
  }

  // Undoes a grant its caller never saw: exactly the state before the call
  // (an upgrade keeps its SHARED grant).
  void Undo(uint64_t s, const std::string& k, uint64_t gen,
            const std::optional<Hold>& prior) {
    Key& key = keys_[k];
    for (auto it = key.holders.begin(); it != key.holders.end(); ++it) {
      if (it->session != s || it->gen != gen) continue;
      if (prior.has_value()) {
        *it = *prior;
      } else {
        key.holders.erase(it);
      }
      std::vector<Completion> more;
      GrantAll(more);
      Run(more);
      return;
    }
  }

  // Delivers completions in order, as the table's effects runner does.
  void Run(std::vector<Completion>& out) {
    for (size_t i = 0; i < out.size(); ++i) {
      Completion c = out[i];
      if (c.multi) {
        MultiStepDone(c);
        continue;
      }
      outcomes_[c.id] = c.outcome;
      if (c.outcome == Outcome::kGranted && c.leaving) {
        Undo(c.session, c.key, c.gen, c.prior);
      }
    }
  }

  void MultiStepDone(const Completion& c) {
    Multi& m = multis_[c.id];
    if (c.outcome != Outcome::kGranted) {
      RollBack(m);
      Finish(c.id, c.outcome);
      return;
    }
    m.taken.push_back(Taken{c.key, false, c.upgrade, c.prior, c.gen});
    ++m.next;
    RunMulti(c.id);
  }

  void RunMulti(int id) {
    Multi& m = multis_[id];
    while (m.next < m.steps.size()) {
      Request r;
      r.session = m.session;
      r.key = m.steps[m.next].first;
      r.mode = m.steps[m.next].second;
      r.max_hold = m.max_hold;
      if (auto it = m.lock_delays.find(r.key); it != m.lock_delays.end()) {
        r.lock_delay = it->second;
      }
      r.id = id;
      r.multi = true;
      std::vector<Completion> out;
      const Outcome o = AcquireInto(r, out);
      if (o == Outcome::kQueued) return;
      if (o != Outcome::kGranted && o != Outcome::kAlreadyHeld) {
        RollBack(m);
        Finish(id, o);
        return;
      }
      m.taken.push_back(Taken{r.key, o == Outcome::kAlreadyHeld,
                              last_upgrade_, last_prior_, last_gen_});
      ++m.next;
    }
    Finish(id, Outcome::kGranted);
  }

  void RollBack(Multi& m) {
    const std::vector<Taken> taken = m.taken;
    for (const Taken& t : taken) {
      if (t.already_held) continue;
      Undo(m.session, t.key, t.gen, t.prior);
    }
  }

  void Finish(int id, Outcome o) {
    multis_.erase(id);
    outcomes_[id] = o;
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
      auto wk = waiting_.find(x);
      if (wk == waiting_.end()) continue;
      for (const Wait& w : keys_[wk->second].queue) {
        if (w.session != x) continue;
        for (uint64_t b : Blockers(wk->second, x, w.mode, w.seq)) {
          if (b == s || seen.insert(b).second) todo.push_back(b);
        }
      }
    }
    return false;
  }

  const Features f_;
  absl::Time now_;
  std::map<std::string, Key> keys_;
  std::map<uint64_t, Sess> sessions_;
  std::map<uint64_t, std::string> waiting_;
  std::map<int, Multi> multis_;
  std::map<int, Outcome> outcomes_;
  std::map<std::pair<uint64_t, std::string>, std::set<uint64_t>> asked_;
  std::optional<Hold> last_prior_;
  bool last_upgrade_ = false;
  uint64_t last_gen_ = 0;
  uint64_t gen_ = 0;
  uint64_t next_upgrade_ = 1;
  uint64_t next_seq_ = uint64_t{1} << 62;
};

}  // namespace taala::model

#endif  // TAALA_TESTS_SERVER_CORE_REFERENCE_MODEL_H_
