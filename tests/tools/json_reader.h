#ifndef TAALA_TESTS_TOOLS_JSON_READER_H_
#define TAALA_TESTS_TOOLS_JSON_READER_H_

// A strict little JSON reader for tests of taalactl's --json output (RFC 8259:
// no trailing commas, no comments, escapes checked, one value per text).

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"

namespace taala::test {

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string text;  // kString; kNumber: as written.
  std::vector<Json> items;
  std::map<std::string, Json> fields;

  // A missing member or index is null.
  const Json& operator[](const std::string& name) const {
    static const Json kNull;
    auto it = fields.find(name);
    return it == fields.end() ? kNull : it->second;
  }
  const Json& operator[](size_t i) const {
    static const Json kNull;
    return i < items.size() ? items[i] : kNull;
  }
  bool is_string() const { return type == Type::kString; }
  bool is_number() const { return type == Type::kNumber; }
  bool is_array() const { return type == Type::kArray; }
  bool is_object() const { return type == Type::kObject; }
  bool is_bool() const { return type == Type::kBool; }
  int64_t as_int() const {
    int64_t v = 0;
    return absl::SimpleAtoi(text, &v) ? v : -1;
  }
};

class JsonReader {
 public:
  // The value of `text` (surrounding whitespace allowed), or nullopt.
  static std::optional<Json> Parse(absl::string_view text) {
    JsonReader r(text);
    Json v;
    if (!r.Value(&v, 0)) return std::nullopt;
    r.Space();
    if (r.pos_ != text.size()) return std::nullopt;
    return v;
  }

 private:
  explicit JsonReader(absl::string_view in) : in_(in) {}

  void Space() {
    while (pos_ < in_.size() && (in_[pos_] == ' ' || in_[pos_] == '\t' ||
                                 in_[pos_] == '\n' || in_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Eat(char c) {
    Space();
    if (pos_ < in_.size() && in_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Word(absl::string_view w) {
    if (in_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  bool Value(Json* v, int depth) {
    if (depth > 64) return false;
    Space();
    if (pos_ >= in_.size()) return false;
    const char c = in_[pos_];
    if (c == '{') return Object(v, depth);
    if (c == '[') return Array(v, depth);
    if (c == '"') {
      v->type = Json::Type::kString;
      return String(&v->text);
    }
    if (c == 't' || c == 'f') {
      v->type = Json::Type::kBool;
      v->boolean = c == 't';
      return Word(c == 't' ? "true" : "false");
    }
    if (c == 'n') return Word("null");
    return Number(v);
  }
  bool Object(Json* v, int depth) {
    v->type = Json::Type::kObject;
    ++pos_;
    if (Eat('}')) return true;
    do {
      Space();
      std::string name;
      if (pos_ >= in_.size() || in_[pos_] != '"' || !String(&name)) {
        return false;
      }
      if (!Eat(':')) return false;
      Json member;
      if (!Value(&member, depth + 1)) return false;
      if (!v->fields.emplace(name, std::move(member)).second) return false;
    } while (Eat(','));
    return Eat('}');
  }
  bool Array(Json* v, int depth) {
    v->type = Json::Type::kArray;
    ++pos_;
    if (Eat(']')) return true;
    do {
      Json item;
      if (!Value(&item, depth + 1)) return false;
      v->items.push_back(std::move(item));
    } while (Eat(','));
    return Eat(']');
  }
  bool Number(Json* v) {
    const size_t start = pos_;
    if (pos_ < in_.size() && in_[pos_] == '-') ++pos_;
    auto digits = [this] {
      const size_t from = pos_;
      while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    const size_t int_start = pos_;
    const size_t n = digits();
    if (n == 0 || (n > 1 && in_[int_start] == '0')) return false;
    if (pos_ < in_.size() && in_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) return false;
    }
    if (pos_ < in_.size() && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < in_.size() && (in_[pos_] == '+' || in_[pos_] == '-')) ++pos_;
      if (digits() == 0) return false;
    }
    v->type = Json::Type::kNumber;
    v->text = std::string(in_.substr(start, pos_ - start));
    return absl::SimpleAtod(v->text, &v->number);
  }
  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xc0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xe0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      *out += static_cast<char>(0xf0 | (cp >> 18));
      *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }
  bool Hex4(uint32_t* cp) {
    if (pos_ + 4 > in_.size()) return false;
    *cp = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = in_[pos_++];
      *cp <<= 4;
      if (h >= '0' && h <= '9') {
        *cp |= h - '0';
      } else if (h >= 'a' && h <= 'f') {
        *cp |= h - 'a' + 10;
      } else if (h >= 'A' && h <= 'F') {
        *cp |= h - 'A' + 10;
      } else {
        return false;
      }
    }
    return true;
  }
  bool String(std::string* out) {
    ++pos_;  // The opening quote.
    while (pos_ < in_.size()) {
      const char c = in_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (pos_ >= in_.size()) return false;
      const char e = in_[pos_++];
      switch (e) {
        case '"': *out += '"'; break;
        case '\\': *out += '\\'; break;
        case '/': *out += '/'; break;
        case 'b': *out += '\b'; break;
        case 'f': *out += '\f'; break;
        case 'n': *out += '\n'; break;
        case 'r': *out += '\r'; break;
        case 't': *out += '\t'; break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t low;
            if (!Word("\\u") || !Hex4(&low) || low < 0xdc00 || low > 0xdfff) {
              return false;
            }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            return false;
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  absl::string_view in_;
  size_t pos_ = 0;
};

}  // namespace taala::test

#endif  // TAALA_TESTS_TOOLS_JSON_READER_H_
