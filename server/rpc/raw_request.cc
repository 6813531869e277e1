#include "server/rpc/raw_request.h"

#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/unknown_field_set.h"
#include "server/core/key.h"

namespace taala {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

// The path of the first string field in `fields` (parsed without a schema)
// that is not valid UTF-8, or "".
std::string FindInvalidUtf8(const UnknownFieldSet& fields,
                            const Descriptor* type, const std::string& prefix,
                            int depth) {
  if (depth > 8) return "";
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& f = fields.field(i);
    if (f.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    const FieldDescriptor* field = type->FindFieldByNumber(f.number());
    if (field == nullptr) continue;
    const std::string path = prefix + field->name();
    if (field->type() == FieldDescriptor::TYPE_STRING &&
        !IsValidUtf8(f.length_delimited())) {
      return path;
    }
    if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
      UnknownFieldSet nested;
      if (nested.ParseFromString(f.length_delimited())) {
        std::string found = FindInvalidUtf8(nested, field->message_type(),
                                            path + ".", depth + 1);
        if (!found.empty()) return found;
      }
    }
  }
  return "";
}

}  // namespace

absl::Status ParseRequest(const grpc::ByteBuffer& raw,
                          google::protobuf::Message* out) {
  grpc::ByteBuffer copy(raw);  // Shares the slices.
  {
    grpc::ProtoBufferReader reader(&copy);
    if (reader.status().ok() && out->ParseFromZeroCopyStream(&reader)) {
      return absl::OkStatus();
    }
  }
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (raw.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices) bytes.append(s.begin(), s.end());
  }
  UnknownFieldSet fields;
  const Descriptor* type = out->GetDescriptor();
  if (fields.ParseFromString(bytes)) {
    const std::string field = FindInvalidUtf8(fields, type, "", 0);
    if (!field.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": not valid UTF-8"));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("request is not a valid ", type->full_name()));
}

void SerializeResponse(const google::protobuf::Message& message,
                       grpc::ByteBuffer* out) {
  bool own_buffer = false;
  grpc::SerializationTraits<google::protobuf::Message>::Serialize(
      message, out, &own_buffer);
}

}  // namespace taala
