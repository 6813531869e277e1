#include "server/core/policy.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/core/key.h"

namespace taala {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Reads one line's tokens: an optional quoted or bare prefix first, then
// whitespace-separated words up to the end or a '#' that starts a word.
class LineReader {
 public:
  explicit LineReader(absl::string_view line) : rest_(line) {}

  void SkipSpace() {
    while (!rest_.empty() && IsSpace(rest_.front())) rest_.remove_prefix(1);
  }
  // True at the end of the line or at a comment.
  bool AtEnd() {
    SkipSpace();
    return rest_.empty() || rest_.front() == '#';
  }
  // A bare word: up to the next whitespace.
  absl::string_view Word() {
    size_t n = 0;
    while (n < rest_.size() && !IsSpace(rest_[n])) ++n;
    absl::string_view word = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return word;
  }
  // The prefix: a quoted string (\" and \\ escapes) or a bare word. An
  // error message (without the line) if malformed.
  absl::StatusOr<std::string> Prefix() {
    if (rest_.front() != '"') return std::string(Word());
    rest_.remove_prefix(1);
    std::string out;
    while (true) {
      if (rest_.empty()) {
        return absl::InvalidArgumentError("unterminated quoted prefix");
      }
      const char c = rest_.front();
      rest_.remove_prefix(1);
      if (c == '"') break;
      if (c == '\\') {
        if (rest_.empty() || (rest_.front() != '"' && rest_.front() != '\\')) {
          return absl::InvalidArgumentError(
              "in a quoted prefix only \\\" and \\\\ are escapes");
        }
        out.push_back(rest_.front());
        rest_.remove_prefix(1);
        continue;
      }
      out.push_back(c);
    }
    if (!rest_.empty() && !IsSpace(rest_.front())) {
      return absl::InvalidArgumentError(
          "the quoted prefix must be followed by whitespace");
    }
    return out;
  }

 private:
  absl::string_view rest_;
};

std::string Quoted(absl::string_view s) {
  return absl::StrCat("\"", EscapeControl(s), "\"");
}

// A duration setting: absl::ParseDuration's syntax, finite, whole
// milliseconds, within [0, max].
absl::StatusOr<int64_t> ParseMs(absl::string_view name, absl::string_view value,
                                absl::Duration max) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d == absl::InfiniteDuration() ||
      d == -absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", Quoted(value),
                     " is not a duration (e.g. 30s, 1m30s, 500ms)"));
  }
  if (d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", value, " must not be negative"));
  }
  if (d > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": ", value, " is longer than ", absl::FormatDuration(max)));
  }
  if (d % absl::Milliseconds(1) != absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": ", value, " is not a whole number of milliseconds"));
  }
  return absl::ToInt64Milliseconds(d);
}

// Applies one "setting=value" word to `p`.
absl::Status ApplySetting(absl::string_view word, const PolicyLimits& limits,
                          KeyPolicy* p) {
  const size_t eq = word.find('=');
  if (eq == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quoted(word), " is not setting=value (e.g. max_hold=30s)"));
  }
  const absl::string_view name = word.substr(0, eq);
  const absl::string_view value = word.substr(eq + 1);
  auto twice = [name] {
    return absl::InvalidArgumentError(absl::StrCat(name, " set twice"));
  };
  if (name == "max_hold") {
    if (p->max_hold_ms.has_value()) return twice();
    absl::StatusOr<int64_t> ms = ParseMs(name, value, kMaxPolicyDuration);
    if (!ms.ok()) return ms.status();
    p->max_hold_ms = *ms;
  } else if (name == "lock_delay") {
    if (p->lock_delay_ms.has_value()) return twice();
    absl::StatusOr<int64_t> ms = ParseMs(name, value, kMaxPolicyDuration);
    if (!ms.ok()) return ms.status();
    if (absl::Milliseconds(*ms) > limits.max_lock_delay) {
      return absl::InvalidArgumentError(absl::StrCat(
          "lock_delay: ", value, " exceeds the daemon's --max_lock_delay (",
          absl::FormatDuration(limits.max_lock_delay), ")"));
    }
    p->lock_delay_ms = *ms;
  } else if (name == "wait_timeout") {
    if (p->wait_timeout_ms.has_value()) return twice();
    if (value == "forever") {
      p->wait_timeout_ms = -1;
    } else {
      absl::StatusOr<int64_t> ms = ParseMs(name, value, kMaxPolicyDuration);
      if (!ms.ok()) return ms.status();
      p->wait_timeout_ms = *ms;
    }
  } else if (name == "semaphore_size") {
    if (p->semaphore_size.has_value()) return twice();
    uint32_t n = 0;
    if (!absl::SimpleAtoi(value, &n) || n < 1 ||
        n > kMaxPolicySemaphoreSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("semaphore_size: ", Quoted(value),
                       " is not an integer between 1 and ",
                       kMaxPolicySemaphoreSize));
    }
    p->semaphore_size = n;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown setting ", Quoted(name),
        " (want max_hold, lock_delay, wait_timeout or semaphore_size)"));
  }
  return absl::OkStatus();
}

// One non-blank, non-comment line. The error without the line number.
absl::StatusOr<KeyPolicy> ParseLine(absl::string_view line,
                                    const PolicyLimits& limits) {
  LineReader in(line);
  in.SkipSpace();
  KeyPolicy p;
  const size_t first = line.find_first_not_of(" \t\r");
  const bool quoted = first != absl::string_view::npos && line[first] == '"';
  absl::StatusOr<std::string> prefix = in.Prefix();
  if (!prefix.ok()) return prefix.status();
  if (!quoted && absl::StrContains(*prefix, '=')) {
    return absl::InvalidArgumentError(
        absl::StrCat("the line starts with ", Quoted(*prefix),
                     ", not a prefix (quote a prefix that contains '=')"));
  }
  if (!IsValidUtf8(*prefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("prefix ", Quoted(*prefix), " is not valid UTF-8"));
  }
  p.prefix = *std::move(prefix);
  if (in.AtEnd()) {
    return absl::InvalidArgumentError(
        absl::StrCat("prefix ", Quoted(p.prefix),
                     " has no settings (want PREFIX setting=value ...)"));
  }
  while (!in.AtEnd()) {
    if (absl::Status s = ApplySetting(in.Word(), limits, &p); !s.ok()) {
      return s;
    }
  }
  return p;
}

}  // namespace

absl::StatusOr<PolicySet> PolicySet::Parse(absl::string_view text,
                                           const PolicyLimits& limits) {
  PolicySet set;
  absl::flat_hash_map<std::string, int> seen;  // Prefix -> its line.
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    LineReader probe(line);
    if (probe.AtEnd()) continue;  // Blank or a comment.
    absl::StatusOr<KeyPolicy> p = ParseLine(line, limits);
    if (!p.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", number, ": ", p.status().message()));
    }
    p->line = number;
    auto [it, inserted] = seen.emplace(p->prefix, number);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", number, ": prefix ", Quoted(p->prefix),
                       " is already set on line ", it->second));
    }
    set.policies_.push_back(*std::move(p));
  }
  std::sort(set.policies_.begin(), set.policies_.end(),
            [](const KeyPolicy& a, const KeyPolicy& b) {
              return a.prefix < b.prefix;
            });
  set.BuildIndex();
  return set;
}

void PolicySet::BuildIndex() {
  const int n = static_cast<int>(policies_.size());
  up_.assign(1, std::vector<int>(n, -1));
  // Sorted order puts a prefix before everything it prefixes, so a stack
  // of the prefixes that contain the current one gives each its parent.
  std::vector<int> stack;
  for (int i = 0; i < n; ++i) {
    const std::string& p = policies_[i].prefix;
    while (!stack.empty() &&
           !absl::StartsWith(p, policies_[stack.back()].prefix)) {
      stack.pop_back();
    }
    up_[0][i] = stack.empty() ? -1 : stack.back();
    stack.push_back(i);
  }
  for (size_t k = 1; (size_t{1} << k) <= static_cast<size_t>(n); ++k) {
    std::vector<int> next(n, -1);
    for (int i = 0; i < n; ++i) {
      const int mid = up_[k - 1][i];
      next[i] = mid < 0 ? -1 : up_[k - 1][mid];
    }
    up_.push_back(std::move(next));
  }
}

const KeyPolicy* PolicySet::Find(absl::string_view key) const {
  // The greatest prefix <= key. If the answer exists, it is a prefix of
  // both this one and `key` (every string between a prefix of `key` and
  // `key` starts with that prefix), so it is this one or one of the
  // prefixes that contain it: the longest of those no longer than the
  // common part of this one and `key`.
  auto it = std::upper_bound(
      policies_.begin(), policies_.end(), key,
      [](absl::string_view k, const KeyPolicy& p) { return k < p.prefix; });
  if (it == policies_.begin()) return nullptr;
  int i = static_cast<int>(it - policies_.begin()) - 1;
  const std::string& found = policies_[i].prefix;
  size_t common = 0;
  while (common < found.size() && common < key.size() &&
         found[common] == key[common]) {
    ++common;
  }
  if (policies_[i].prefix.size() <= common) return &policies_[i];
  // Lengths shrink going up: jump while the target is still too long.
  for (int k = static_cast<int>(up_.size()) - 1; k >= 0; --k) {
    const int j = up_[k][i];
    if (j >= 0 && policies_[j].prefix.size() > common) i = j;
  }
  i = up_[0][i];
  return i < 0 ? nullptr : &policies_[i];
}

namespace {

std::atomic<uint64_t> next_policy_version{1};

struct CachedPolicyState {
  uint64_t version = 0;
  std::shared_ptr<const PolicyState> state;
};

}  // namespace

PolicyHolder::PolicyHolder()
    : state_(std::make_shared<PolicyState>()),
      version_(next_policy_version.fetch_add(1)) {}

const PolicyState& PolicyHolder::Get() const {
  thread_local CachedPolicyState cache;
  if (cache.version != version_.load(std::memory_order_acquire)) {
    absl::MutexLock lock(&mu_);
    cache.state = state_;
    cache.version = version_.load(std::memory_order_relaxed);
  }
  return *cache.state;
}

std::shared_ptr<const PolicyState> PolicyHolder::Share() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

void PolicyHolder::Set(std::shared_ptr<const PolicyState> state) {
  std::shared_ptr<const PolicyState> old;  // Freed outside the mutex.
  absl::MutexLock lock(&mu_);
  old = std::exchange(state_, std::move(state));
  version_.store(next_policy_version.fetch_add(1), std::memory_order_release);
}

}  // namespace taala
