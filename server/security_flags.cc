#include "server/security_flags.h"

#include "server/limit_transport_flags.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain of the gRPC port: with --tls_key, taalad "
          "serves TLS (and may then --listen on any address). Reloaded when "
          "the file changes (--tls_reload_interval).");
ABSL_FLAG(std::string, tls_key, "",
          "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificates for client certificates (mutual TLS; needs "
          "--tls_cert). A verified client certificate's subject CN (or first "
          "SAN) is the caller's identity. Clients must present one unless "
          "--auth_tokens_file or --allow_anonymous lets them in without.");
ABSL_FLAG(absl::Duration, tls_reload_interval, absl::Seconds(60),
          "How often the --tls_cert, --tls_key and --tls_client_ca files are "
          "re-read; renewed files take effect for new connections, open "
          "ones keep going.");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "Bearer tokens: lines `IDENTITY sha256:HEX` (make one with "
          "`taalactl hash-token IDENTITY`). Callers send `authorization: "
          "Bearer <token>`. Re-read on SIGHUP.");
ABSL_FLAG(std::string, acl_file, "",
          "Access-control list (docs/security.md); once set, whatever it "
          "does not grant is denied. Re-read on SIGHUP.");
ABSL_FLAG(bool, allow_anonymous, false,
          "Admit callers without a token or client certificate (as "
          "anonymous@ADDRESS) even with --auth_tokens_file or "
          "--tls_client_ca. Without either, anonymous callers are always "
          "admitted.");

namespace taala {
namespace {

// No credential or ACL file is anywhere near this: a bound on what a
// mistaken path (a log, a device) costs.
constexpr std::streamsize kMaxFileBytes = 8 << 20;

absl::StatusOr<std::string> ReadFile(const std::string& flag,
                                     const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", path, ": cannot read the file"));
  }
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), kMaxFileBytes + 1);
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", path, ": cannot read the file"));
  }
  if (in.gcount() > kMaxFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=", path, ": larger than ", kMaxFileBytes, " bytes"));
  }
  text.resize(in.gcount());
  return text;
}

// OpenSSL's default pass phrase callback prompts on the terminal, and a
// daemon must never wait for one: this one gives no pass phrase (the read
// fails) and notes that the key asked for one.
int NoPassPhrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* asked) {
  *static_cast<bool*>(asked) = true;
  return 0;
}

// The first PEM object of `flag`'s file: a private key or a certificate.
// Fails at startup with the flag's name rather than at each handshake with
// an error only gRPC's log shows.
struct Pem {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  Pem() = default;
  Pem(const Pem&) = delete;
  Pem& operator=(const Pem&) = delete;
  ~Pem() {
    EVP_PKEY_free(key);
    X509_free(cert);
  }
};

absl::Status ReadPem(const std::string& flag, const std::string& path,
                     bool key, Pem* pem) {
  absl::StatusOr<std::string> text = ReadFile(flag, path);
  if (!text.ok()) return text.status();
  BIO* bio = BIO_new_mem_buf(text->data(), static_cast<int>(text->size()));
  bool asked = false;
  if (key) {
    pem->key = PEM_read_bio_PrivateKey(bio, nullptr, NoPassPhrase, &asked);
  } else {
    pem->cert = PEM_read_bio_X509(bio, nullptr, NoPassPhrase, &asked);
  }
  BIO_free(bio);
  ERR_clear_error();
  if (pem->key != nullptr || pem->cert != nullptr) return absl::OkStatus();
  if (asked) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=", path,
        ": the private key is encrypted (taalad takes no pass phrase; give "
        "it an unencrypted key, e.g. `openssl pkey -in KEY -out KEY2`, "
        "readable by taalad only)"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, "=", path, ": no PEM ",
      key ? "private key" : "certificate", " in the file"));
}

absl::Status CheckPem(const std::string& flag, const std::string& path,
                      bool key) {
  Pem pem;
  return ReadPem(flag, path, key, &pem);
}

// The key must be the certificate's: otherwise taalad would serve and every
// handshake would fail.
absl::Status CheckKeyPair(const std::string& cert_path,
                          const std::string& key_path) {
  Pem cert;
  if (absl::Status s = ReadPem("tls_cert", cert_path, false, &cert);
      !s.ok()) {
    return s;
  }
  Pem key;
  if (absl::Status s = ReadPem("tls_key", key_path, true, &key); !s.ok()) {
    return s;
  }
  const bool match = X509_check_private_key(cert.cert, key.key) == 1;
  ERR_clear_error();
  if (match) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--tls_key=", key_path, " is not the private key of --tls_cert=",
      cert_path, " (the first certificate of the file)"));
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsCredentials(
    const DaemonSecurity& security) {
  const std::string cert = absl::GetFlag(FLAGS_tls_cert);
  const std::string key = absl::GetFlag(FLAGS_tls_key);
  const std::string client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  if (absl::Status s = CheckKeyPair(cert, key); !s.ok()) return s;
  if (!client_ca.empty()) {
    if (absl::Status s = CheckPem("tls_client_ca", client_ca, false);
        !s.ok()) {
      return s;
    }
  }
  const absl::Duration interval = absl::GetFlag(FLAGS_tls_reload_interval);
  if (interval < absl::Seconds(1) || interval > absl::Hours(24 * 365)) {
    return absl::InvalidArgumentError(
        "--tls_reload_interval must be at least 1s (and at most a year)");
  }
  // The provider re-reads the files every `interval` and hands new
  // certificates to new handshakes; established connections keep theirs.
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          key, cert, client_ca,
          static_cast<unsigned int>(absl::ToInt64Seconds(interval)));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (client_ca.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    // A certificate-less caller can still get in with a token or as
    // anonymous: then a certificate is asked for but not required.
    const bool certificate_optional =
        security.allow_anonymous || !security.tokens_file.empty();
    options.set_cert_request_type(
        certificate_optional
            ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY
            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

// The token and ACL files as one config, or the first error (naming the
// file and the line).
absl::StatusOr<std::shared_ptr<const auth::AuthConfig>> LoadConfig(
    const DaemonSecurity& security) {
  auto config = std::make_shared<auth::AuthConfig>();
  config->client_certificates = security.client_certificates;
  config->allow_anonymous = security.allow_anonymous;
  if (!security.tokens_file.empty()) {
    absl::StatusOr<std::string> text =
        ReadFile("auth_tokens_file", security.tokens_file);
    if (!text.ok()) return text.status();
    absl::StatusOr<auth::TokenFile> tokens = auth::TokenFile::Parse(*text);
    if (!tokens.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--auth_tokens_file=", security.tokens_file, ": ",
                       tokens.status().message()));
    }
    config->tokens = *std::move(tokens);
  }
  if (!security.acl_file.empty()) {
    absl::StatusOr<std::string> text = ReadFile("acl_file", security.acl_file);
    if (!text.ok()) return text.status();
    absl::StatusOr<auth::Acl> acl = auth::Acl::Parse(*text);
    if (!acl.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--acl_file=", security.acl_file, ": ", acl.status().message()));
    }
    config->acl = *std::move(acl);
  }
  return std::shared_ptr<const auth::AuthConfig>(std::move(config));
}

std::string Describe(const auth::AuthConfig& config) {
  return absl::StrCat(
      config.tokens.has_value()
          ? absl::StrCat(config.tokens->size(), " bearer tokens")
          : std::string("no bearer tokens"),
      ", ",
      config.acl.has_value() ? absl::StrCat(config.acl->rule_count(),
                                            " ACL rules")
                             : std::string("no ACL (every caller may do "
                                           "everything)"),
      config.client_certificates ? ", client certificates" : "",
      config.allow_anonymous ? ", anonymous callers admitted"
                             : ", anonymous callers refused");
}

}  // namespace

DaemonSecurity::DaemonSecurity() = default;
DaemonSecurity::~DaemonSecurity() = default;

void DaemonSecurity::Reload() {
  absl::StatusOr<std::shared_ptr<const auth::AuthConfig>> config =
      LoadConfig(*this);
  if (!config.ok()) {
    spdlog::error("SIGHUP: reload failed, keeping the previous tokens and "
                  "ACL: {}",
                  std::string(config.status().message()));
    return;
  }
  spdlog::info("SIGHUP: reloaded: {}", Describe(**config));
  auth.Set(*std::move(config));
}

absl::StatusOr<std::unique_ptr<DaemonSecurity>> SetUpSecurity() {
  auto security = std::make_unique<DaemonSecurity>();
  absl::StatusOr<std::unique_ptr<auth::RateLimiter>> limiter =
      MakeRateLimiter();
  if (!limiter.ok()) return limiter.status();
  security->limiter = *std::move(limiter);
  security->gate = std::make_unique<CallGate>(
      &security->auth, security->limiter.get(), &security->audit);
  const bool cert = !absl::GetFlag(FLAGS_tls_cert).empty();
  const bool key = !absl::GetFlag(FLAGS_tls_key).empty();
  const bool client_ca = !absl::GetFlag(FLAGS_tls_client_ca).empty();
  if (cert != key) {
    return absl::InvalidArgumentError(
        cert ? "--tls_cert needs --tls_key (the certificate's private key)"
             : "--tls_key needs --tls_cert (the certificate it belongs to)");
  }
  if (client_ca && !cert) {
    return absl::InvalidArgumentError(
        "--tls_client_ca needs --tls_cert and --tls_key: client "
        "certificates are only asked for over TLS");
  }
  security->tokens_file = absl::GetFlag(FLAGS_auth_tokens_file);
  security->acl_file = absl::GetFlag(FLAGS_acl_file);
  security->client_certificates = client_ca;
  // The loopback default (no auth flag) admits everyone, as before.
  security->allow_anonymous = absl::GetFlag(FLAGS_allow_anonymous) ||
                              (security->tokens_file.empty() && !client_ca);
  absl::StatusOr<std::shared_ptr<const auth::AuthConfig>> config =
      LoadConfig(*security);
  if (!config.ok()) return config.status();
  if (!security->tokens_file.empty() || !security->acl_file.empty() ||
      client_ca) {
    spdlog::info("authentication: {}", Describe(**config));
  }
  security->auth.Set(*std::move(config));
  if (cert) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
        TlsCredentials(*security);
    if (!creds.ok()) return creds.status();
    security->credentials = *std::move(creds);
    security->tls = true;
    spdlog::info(
        "TLS on the gRPC port: certificate {}, client certificates {}; the "
        "files are re-read every {}",
        absl::GetFlag(FLAGS_tls_cert),
        !client_ca ? "not asked for"
        : security->allow_anonymous || !security->tokens_file.empty()
            ? "verified if given"
            : "required",
        absl::FormatDuration(absl::GetFlag(FLAGS_tls_reload_interval)));
  } else {
    security->credentials = grpc::InsecureServerCredentials();
  }
  return security;
}

}  // namespace taala
