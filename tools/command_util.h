// File: tools/command_util.h
// -----------------------------------------------------------------------------
// What taalactl's read-only commands share: the stub, deadlines, error
// reporting, printing (tables or proto JSON), and short renderings of modes
// and labels.

#ifndef TAALA_TOOLS_COMMAND_UTIL_H_
#define TAALA_TOOLS_COMMAND_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "client/lock_client.h"
#include "google/protobuf/map.h"
#include "google/protobuf/message.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tools/taalactl_args.h"

namespace taala::tools {

// Server-side page size for list and sessions (the API's maximum).
inline constexpr uint32_t kPageSize = 1000;

// Reads the --tls-ca, --tls-cert and --tls-key files into inv's *_pem
// fields; INVALID_ARGUMENT naming the file if one cannot be read, or a
// certificate comes without its key.
absl::Status LoadCredentialFiles(Invocation* inv);

// A channel to inv.endpoint: TLS if any TLS file was given, else plaintext.
std::shared_ptr<grpc::Channel> NewChannel(const Invocation& inv);

std::unique_ptr<v1::LockService::Stub> NewStub(const Invocation& inv);

// The client library's options for inv: endpoint, timeout, credentials.
ClientOptions ClientOptionsFor(const Invocation& inv);

// The bearer token (--auth-token), if any, as call metadata.
void AddCredentials(const Invocation& inv, grpc::ClientContext* ctx);

// inv.timeout from now, and the credentials (AddCredentials).
void SetDeadline(const Invocation& inv, grpc::ClientContext* ctx);

// Reports a failed call on stderr, through TerminalSafe; returns the exit
// status for it.
// UNIMPLEMENTED says the daemon is older than the command.
int Fail(const Invocation& inv, absl::string_view what,
         const grpc::Status& status);

// Writes `text` to stdout and flushes.
void Print(const std::string& text);

// Prints `message` as one line of proto3 JSON (tools/proto_json.h); returns
// the exit status.
int PrintJson(const google::protobuf::Message& message);

// "EXCLUSIVE", "SHARED" (the enum name without LOCK_MODE_).
std::string ModeName(v1::LockMode mode);

// "host=h1,pid=42": sorted by name, so the output is stable; "-" if none.
std::string LabelsText(const google::protobuf::Map<std::string, std::string>&
                           labels);

// This machine's host name; "" if it has none.
std::string HostName();

// At most `max` bytes of `s`, not splitting a UTF-8 sequence.
std::string TruncateUtf8(std::string s, size_t max);

// A duration in milliseconds given as a double (sketch percentiles):
// "0.4ms", "12ms", "1.5s", "4m05s".
std::string FormatMsDouble(double ms);

}  // namespace taala::tools

#endif  // TAALA_TOOLS_COMMAND_UTIL_H_
