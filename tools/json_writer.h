// File: tools/json_writer.h
// -----------------------------------------------------------------------------
// A small streaming JSON writer for taalactl's --json output: compact, one
// line, no dependencies. Strings are escaped per RFC 8259; bytes that are not
// well-formed UTF-8 become U+FFFD, so the output is always valid JSON.
//
//   JsonWriter w;
//   w.BeginObject().Key("key").String("a/b").Key("waiters").BeginArray();
//   w.EndArray().EndObject();
//   std::cout << w.str() << "\n";
//
// Misuse (a value without a key inside an object, unbalanced ends) is a
// programming error and is caught by assert in debug builds.

#ifndef TAALA_TOOLS_JSON_WRITER_H_
#define TAALA_TOOLS_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace taala::tools {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // The next value's name; only inside an object.
  JsonWriter& Key(absl::string_view name);
  JsonWriter& String(absl::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  // The text so far; a complete document once every Begin has its End.
  const std::string& str() const { return out_; }

 private:
  struct Level {
    bool object;
    bool empty = true;
  };
  void BeforeValue();

  std::string out_;
  std::vector<Level> levels_;
  bool after_key_ = false;
};

// `s` as a quoted JSON string.
std::string JsonQuote(absl::string_view s);

}  // namespace taala::tools

#endif  // TAALA_TOOLS_JSON_WRITER_H_
