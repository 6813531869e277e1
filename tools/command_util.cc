#include "tools/command_util.h"

#include <grpcpp/create_channel.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <iostream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tools/exit_codes.h"
#include "tools/proto_json.h"
#include "tools/text_table.h"

namespace taala::tools {

namespace {

absl::Status ReadPem(const char* flag, const std::string& path,
                     std::string* pem) {
  if (path.empty()) return absl::OkStatus();
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": cannot read ", path));
  }
  *pem = text.str();
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadCredentialFiles(Invocation* inv) {
  if (inv->tls_cert.empty() != inv->tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key go together (a client certificate and "
        "its key)");
  }
  if (absl::Status s = ReadPem("tls-ca", inv->tls_ca, &inv->tls_ca_pem);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadPem("tls-cert", inv->tls_cert, &inv->tls_cert_pem);
      !s.ok()) {
    return s;
  }
  return ReadPem("tls-key", inv->tls_key, &inv->tls_key_pem);
}

std::shared_ptr<grpc::Channel> NewChannel(const Invocation& inv) {
  if (inv.tls_ca.empty() && inv.tls_cert.empty()) {
    return grpc::CreateChannel(inv.endpoint,
                               grpc::InsecureChannelCredentials());
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = inv.tls_ca_pem;
  ssl.pem_cert_chain = inv.tls_cert_pem;
  ssl.pem_private_key = inv.tls_key_pem;
  return grpc::CreateChannel(inv.endpoint, grpc::SslCredentials(ssl));
}

std::unique_ptr<v1::LockService::Stub> NewStub(const Invocation& inv) {
  return v1::LockService::NewStub(NewChannel(inv));
}

ClientOptions ClientOptionsFor(const Invocation& inv) {
  ClientOptions options;
  options.endpoints = {inv.endpoint};
  options.call_timeout = inv.timeout;
  options.tls.root_certs_pem = inv.tls_ca_pem;
  options.tls.cert_chain_pem = inv.tls_cert_pem;
  options.tls.private_key_pem = inv.tls_key_pem;
  options.tls.enabled = !inv.tls_ca.empty() || !inv.tls_cert.empty();
  options.bearer_token = inv.auth_token;
  return options;
}

void AddCredentials(const Invocation& inv, grpc::ClientContext* ctx) {
  if (!inv.auth_token.empty()) {
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", inv.auth_token));
  }
}

void SetDeadline(const Invocation& inv, grpc::ClientContext* ctx) {
  AddCredentials(inv, ctx);
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + inv.timeout));
}

int Fail(const Invocation& inv, absl::string_view what,
         const grpc::Status& status) {
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  // The daemon's message echoes what it was sent (a key from a script's
  // variable, say): escaped like the tables, so it cannot drive the terminal.
  std::string line =
      absl::StrCat(what, " at ", inv.endpoint, ": ",
                   absl::StatusCodeToString(code), ": ", status.error_message());
  if (code == absl::StatusCode::kUnimplemented) {
    absl::StrAppend(&line, " (this taalad does not serve ", what,
                    ": an older version?)");
  }
  std::cerr << "taalactl: " << TerminalSafe(line) << "\n";
  return ExitCodeFor(code);
}

void Print(const std::string& text) {
  std::cout << text;
  std::cout.flush();
}

int PrintJson(const google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = ToJson(message);
  if (!json.ok()) {
    std::cerr << "taalactl: " << TerminalSafe(json.status().message())
              << "\n";
    return kExitError;
  }
  Print(*json + "\n");
  return kExitOk;
}

std::string ModeName(v1::LockMode mode) {
  const std::string& full = v1::LockMode_Name(mode);
  absl::string_view name = full;
  absl::ConsumePrefix(&name, "LOCK_MODE_");
  return name.empty() ? absl::StrCat(static_cast<int>(mode))
                      : std::string(name);
}

std::string LabelsText(
    const google::protobuf::Map<std::string, std::string>& labels) {
  if (labels.empty()) return "-";
  const std::map<std::string, std::string> sorted(labels.begin(),
                                                  labels.end());
  return absl::StrJoin(sorted, ",", absl::PairFormatter("="));
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

std::string TruncateUtf8(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
  s.resize(n);
  return s;
}

std::string FormatMsDouble(double ms) {
  if (!(ms > 0)) return "0ms";
  if (ms < 10) return absl::StrFormat("%.1fms", ms);
  return FormatMs(static_cast<int64_t>(std::llround(ms)));
}

}  // namespace taala::tools
