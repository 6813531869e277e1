#include "tools/json_writer.h"

#include <cassert>

#include "absl/strings/str_cat.h"
#include "tools/utf8.h"

namespace taala::tools {

std::string JsonQuote(absl::string_view s) {
  std::string out = "\"";
  ForEachCodePoint(s, [&out](absl::string_view bytes, int32_t cp) {
    switch (cp) {
      case '"':
        out += "\\\"";
        return;
      case '\\':
        out += "\\\\";
        return;
      case '\b':
        out += "\\b";
        return;
      case '\f':
        out += "\\f";
        return;
      case '\n':
        out += "\\n";
        return;
      case '\r':
        out += "\\r";
        return;
      case '\t':
        out += "\\t";
        return;
      default:
        break;
    }
    if (cp < 0) {
      out += "\\ufffd";  // Not well-formed UTF-8.
    } else if (cp < 0x20) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[cp >> 4];
      out += kHex[cp & 0xf];
    } else {
      out.append(bytes.data(), bytes.size());
    }
  });
  out += '"';
  return out;
}

void JsonWriter::BeforeValue() {
  if (levels_.empty()) {
    assert(out_.empty() && "one top-level value only");
    return;
  }
  Level& level = levels_.back();
  if (level.object) {
    assert(after_key_ && "a value in an object needs a Key first");
    after_key_ = false;
    return;
  }
  if (!level.empty) out_ += ',';
  level.empty = false;
}

JsonWriter& JsonWriter::BeginObject() {
  BeforeValue();
  out_ += '{';
  levels_.push_back(Level{true});
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  assert(!levels_.empty() && levels_.back().object && !after_key_);
  levels_.pop_back();
  out_ += '}';
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  BeforeValue();
  out_ += '[';
  levels_.push_back(Level{false});
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  assert(!levels_.empty() && !levels_.back().object);
  levels_.pop_back();
  out_ += ']';
  return *this;
}

JsonWriter& JsonWriter::Key(absl::string_view name) {
  assert(!levels_.empty() && levels_.back().object && !after_key_);
  Level& level = levels_.back();
  if (!level.empty) out_ += ',';
  level.empty = false;
  out_ += JsonQuote(name);
  out_ += ':';
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::String(absl::string_view value) {
  BeforeValue();
  out_ += JsonQuote(value);
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t value) {
  BeforeValue();
  absl::StrAppend(&out_, value);
  return *this;
}

JsonWriter& JsonWriter::Uint(uint64_t value) {
  BeforeValue();
  absl::StrAppend(&out_, value);
  return *this;
}

JsonWriter& JsonWriter::Bool(bool value) {
  BeforeValue();
  out_ += value ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::Null() {
  BeforeValue();
  out_ += "null";
  return *this;
}

}  // namespace taala::tools
