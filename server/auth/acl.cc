#include "server/auth/acl.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/utf8.h"

namespace taala {
namespace auth {
namespace {

// The longest line, in bytes (a key is at most 1 KiB; a rule is one
// prefix and a few words).
constexpr size_t kMaxLineBytes = 4096;

constexpr uint8_t Bit(Permission p) { return static_cast<uint8_t>(p); }
constexpr uint8_t kAllBits =
    Bit(Permission::kLock) | Bit(Permission::kRead) | Bit(Permission::kAdmin);

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// "U+001B" for the first control character (C0 but tab, DEL, C1) of a
// valid UTF-8 `line`, or "".
std::string ControlIn(absl::string_view line) {
  for (size_t i = 0; i < line.size(); ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7F) {
      return absl::StrFormat("U+%04X", c);
    }
    if (c == 0xC2 && i + 1 < line.size()) {
      const auto next = static_cast<unsigned char>(line[i + 1]);
      if (next >= 0x80 && next <= 0x9F) return absl::StrFormat("U+%04X", next);
    }
  }
  return "";
}

// The words of a line: bare (up to whitespace) or double-quoted (\" and \\
// the only escapes), up to the end or a word starting with '#'.
absl::StatusOr<std::vector<std::string>> Words(absl::string_view rest) {
  std::vector<std::string> words;
  while (true) {
    while (!rest.empty() && IsSpace(rest.front())) rest.remove_prefix(1);
    if (rest.empty() || rest.front() == '#') return words;
    if (rest.front() != '"') {
      size_t n = 0;
      while (n < rest.size() && !IsSpace(rest[n])) ++n;
      if (rest.substr(0, n).find('"') != absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            "\"", rest.substr(0, n),
            "\": a bare word may not hold '\"' (quote the whole word)"));
      }
      words.emplace_back(rest.substr(0, n));
      rest.remove_prefix(n);
      continue;
    }
    rest.remove_prefix(1);
    std::string word;
    while (true) {
      if (rest.empty()) {
        return absl::InvalidArgumentError("unterminated quoted word");
      }
      const char c = rest.front();
      rest.remove_prefix(1);
      if (c == '"') break;
      if (c == '\\') {
        if (rest.empty() || (rest.front() != '"' && rest.front() != '\\')) {
          return absl::InvalidArgumentError(
              "in a quoted word only \\\" and \\\\ are escapes");
        }
        word.push_back(rest.front());
        rest.remove_prefix(1);
        continue;
      }
      word.push_back(c);
    }
    if (!rest.empty() && !IsSpace(rest.front())) {
      return absl::InvalidArgumentError(
          "a quoted word must be followed by whitespace");
    }
    words.push_back(std::move(word));
  }
}

// The bits a permission or role word grants, or 0. `admin` is both the
// permission and the role; a rule naming it grants the role: whoever may
// force-release a key may also see and take it.
uint8_t BitsOf(absl::string_view word) {
  if (word == "lock") return Bit(Permission::kLock);
  if (word == "read") return Bit(Permission::kRead);
  if (word == "client") return Bit(Permission::kLock) | Bit(Permission::kRead);
  if (word == "admin") return kAllBits;
  return 0;
}

bool IsGroupName(absl::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// An identity named in a rule or a group: not empty, not "*", not a group.
absl::Status CheckIdentityName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("empty identity name");
  if (name == "*" || absl::StartsWith(name, "group:")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", name, "\" is not an identity (groups hold identities only)"));
  }
  return absl::OkStatus();
}

struct PendingRule {
  int line = 0;
  std::string subject;
  std::string prefix;
  uint8_t bits = 0;
};

absl::Status LineError(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", what));
}

// Adds `bits` on `prefix` to `rules` (one rule per prefix).
void AddRule(std::vector<std::pair<std::string, uint8_t>>* rules,
             const std::string& prefix, uint8_t bits) {
  for (auto& r : *rules) {
    if (r.first == prefix) {
      r.second |= bits;
      return;
    }
  }
  rules->emplace_back(prefix, bits);
}

}  // namespace

absl::StatusOr<Acl> Acl::Parse(absl::string_view text) {
  absl::ConsumePrefix(&text, "\xEF\xBB\xBF");  // A byte order mark.
  // Group name -> (index, line); members per group.
  absl::flat_hash_map<std::string, std::pair<int, int>> groups;
  std::vector<std::vector<std::string>> members;
  std::vector<PendingRule> pending;
  int number = 0;
  size_t bytes = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    bytes += line.size() + 1;
    if (number > kMaxAclLines) {
      return LineError(number, absl::StrCat("more than ", kMaxAclLines,
                                            " lines (the limit)"));
    }
    if (bytes > kMaxAclFileBytes + 1) {
      return LineError(number, absl::StrCat("the file passes ",
                                            kMaxAclFileBytes,
                                            " bytes (the limit)"));
    }
    if (line.size() > kMaxLineBytes) {
      return LineError(number, absl::StrCat(line.size(), " bytes, at most ",
                                            kMaxLineBytes, " per line"));
    }
    if (!IsWholeUtf8(line)) return LineError(number, "not valid UTF-8");
    if (std::string c = ControlIn(line); !c.empty()) {
      return LineError(number, absl::StrCat("control character ", c));
    }
    absl::StatusOr<std::vector<std::string>> words = Words(line);
    if (!words.ok()) return LineError(number, words.status().message());
    if (words->empty()) continue;  // Blank or a comment.
    const std::string& verb = (*words)[0];
    if (verb == "group") {
      if (words->size() < 3) {
        return LineError(number, "want: group NAME MEMBER...");
      }
      const std::string& name = (*words)[1];
      if (!IsGroupName(name)) {
        return LineError(number, absl::StrCat("group name \"", name,
                                              "\": use letters, digits, "
                                              "'_', '-' and '.'"));
      }
      const int index = static_cast<int>(members.size());
      auto [it, inserted] = groups.emplace(name, std::make_pair(index, number));
      if (!inserted) {
        return LineError(number,
                         absl::StrCat("group \"", name,
                                      "\" is already defined on line ",
                                      it->second.second));
      }
      members.emplace_back();
      for (size_t i = 2; i < words->size(); ++i) {
        if (absl::Status s = CheckIdentityName((*words)[i]); !s.ok()) {
          return LineError(number, s.message());
        }
        members.back().push_back((*words)[i]);
      }
    } else if (verb == "allow") {
      if (words->size() < 4) {
        return LineError(number,
                         "want: allow SUBJECT PREFIX PERMISSION_OR_ROLE...");
      }
      PendingRule r;
      r.line = number;
      r.subject = (*words)[1];
      r.prefix = (*words)[2];
      if (r.subject != "*" && !absl::StartsWith(r.subject, "group:")) {
        if (absl::Status s = CheckIdentityName(r.subject); !s.ok()) {
          return LineError(number, s.message());
        }
      }
      for (size_t i = 3; i < words->size(); ++i) {
        const uint8_t bits = BitsOf((*words)[i]);
        if (bits == 0) {
          return LineError(
              number, absl::StrCat("unknown permission \"", (*words)[i],
                                   "\" (want lock, read, admin or client)"));
        }
        r.bits |= bits;
      }
      pending.push_back(std::move(r));
    } else {
      return LineError(number, absl::StrCat("unknown rule \"", verb,
                                            "\" (want group or allow)"));
    }
  }

  // Resolve subjects now that every group is known (a group may be used
  // above its definition).
  absl::flat_hash_map<std::string, std::vector<std::pair<std::string, uint8_t>>>
      identity_rules;
  std::vector<std::vector<std::pair<std::string, uint8_t>>> group_rules(
      members.size());
  std::vector<std::pair<std::string, uint8_t>> everyone;
  for (const PendingRule& r : pending) {
    if (r.subject == "*") {
      AddRule(&everyone, r.prefix, r.bits);
    } else if (absl::string_view g = r.subject;
               absl::ConsumePrefix(&g, "group:")) {
      auto it = groups.find(g);
      if (it == groups.end()) {
        return LineError(r.line, absl::StrCat("unknown group \"", g, "\""));
      }
      AddRule(&group_rules[it->second.first], r.prefix, r.bits);
    } else {
      AddRule(&identity_rules[r.subject], r.prefix, r.bits);
    }
  }
  auto to_rules = [](const std::vector<std::pair<std::string, uint8_t>>& in) {
    std::vector<Rule> out;
    out.reserve(in.size());
    for (const auto& [prefix, bits] : in) out.push_back(Rule{prefix, bits});
    return out;
  };
  Acl acl;
  acl.rule_count_ = pending.size();
  for (const auto& [name, rules] : identity_rules) {
    acl.by_identity_[name] = to_rules(rules);
  }
  for (size_t g = 0; g < members.size(); ++g) {
    acl.by_group_.push_back(to_rules(group_rules[g]));
    if (group_rules[g].empty()) continue;  // Grants nothing.
    for (const std::string& m : members[g]) {
      std::vector<int>& of = acl.groups_of_[m];
      if (of.empty() || of.back() != static_cast<int>(g)) {
        of.push_back(static_cast<int>(g));
      }
    }
  }
  acl.everyone_ = to_rules(everyone);
  return acl;
}

template <typename F>
bool Acl::AnyRules(absl::string_view name, F f) const {
  if (!everyone_.empty() && f(everyone_)) return true;
  if (auto it = by_identity_.find(name);
      it != by_identity_.end() && f(it->second)) {
    return true;
  }
  if (auto it = groups_of_.find(name); it != groups_of_.end()) {
    for (int g : it->second) {
      if (f(by_group_[g])) return true;
    }
  }
  return false;
}

bool Acl::Allows(const Identity& who, Permission p,
                 absl::string_view key) const {
  const uint8_t bit = Bit(p);
  return AnyRules(who.name, [&](const std::vector<Rule>& rules) {
    for (const Rule& r : rules) {
      if ((r.permissions & bit) != 0 && absl::StartsWith(key, r.prefix)) {
        return true;
      }
    }
    return false;
  });
}

bool Acl::AllowsAnywhere(const Identity& who, Permission p) const {
  const uint8_t bit = Bit(p);
  return AnyRules(who.name, [&](const std::vector<Rule>& rules) {
    for (const Rule& r : rules) {
      if ((r.permissions & bit) != 0) return true;
    }
    return false;
  });
}

}  // namespace auth
}  // namespace taala
