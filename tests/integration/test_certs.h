#ifndef TAALA_TESTS_INTEGRATION_TEST_CERTS_H_
#define TAALA_TESTS_INTEGRATION_TEST_CERTS_H_

// Real certificates for TLS tests, made by the `openssl` command in a
// temporary directory: certification authorities, a server certificate for
// 127.0.0.1 and localhost, and client certificates (mutual TLS). EC P-256
// keys, valid for three days.

#include <stdlib.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace taala::test {

class TestPki {
 public:
  // Files go to `dir` (which must exist): NAME.pem, NAME.key.
  explicit TestPki(std::string dir) : dir_(std::move(dir)) {}

  std::string pem(const std::string& name) const {
    return absl::StrCat(dir_, "/", name, ".pem");
  }
  std::string key(const std::string& name) const {
    return absl::StrCat(dir_, "/", name, ".key");
  }
  // What openssl said, for a failed test.
  std::string log() const { return Read(dir_ + "/openssl.log"); }

  // A self-signed CA `name` (subject CN "taala test NAME").
  bool MakeCa(const std::string& name) {
    return Run(absl::StrCat(
        "openssl req -x509 -new -nodes -newkey ec -pkeyopt "
        "ec_paramgen_curve:prime256v1 -keyout ", key(name), " -out ",
        pem(name), " -days 3 -subj '/CN=taala test ", name,
        "' -addext basicConstraints=critical,CA:TRUE -addext "
        "keyUsage=critical,keyCertSign,cRLSign"));
  }
  // A server certificate `name` from CA `ca` for 127.0.0.1 and localhost.
  bool MakeServerCert(const std::string& ca, const std::string& name) {
    return MakeLeaf(ca, name, "/CN=localhost",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "extendedKeyUsage=serverAuth\n");
  }
  // A client certificate `name` from CA `ca` with subject CN `cn` (none if
  // empty: then `san`, e.g. "DNS:svc.example", names it).
  bool MakeClientCert(const std::string& ca, const std::string& name,
                      const std::string& cn, const std::string& san = "") {
    return MakeLeaf(ca, name, cn.empty() ? "/O=taala test" : "/CN=" + cn,
                    absl::StrCat(san.empty() ? "" : "subjectAltName=" + san +
                                                        "\n",
                                 "extendedKeyUsage=clientAuth\n"));
  }
  // The set the TLS tests share: CA "ca" with server certificate "server"
  // and client certificates "alice" and "bob" (CNs alice and bob); CA
  // "other-ca" with client certificate "mallory" (CN mallory).
  bool MakeStandard() {
    return MakeCa("ca") && MakeServerCert("ca", "server") &&
           MakeClientCert("ca", "alice", "alice") &&
           MakeClientCert("ca", "bob", "bob") && MakeCa("other-ca") &&
           MakeClientCert("other-ca", "mallory", "mallory");
  }

  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  bool MakeLeaf(const std::string& ca, const std::string& name,
                const std::string& subject, const std::string& extensions) {
    const std::string ext_path = absl::StrCat(dir_, "/", name, ".ext");
    {
      std::ofstream ext(ext_path);
      ext << "basicConstraints=CA:FALSE\n" << extensions;
    }
    std::random_device seed;
    const uint64_t serial = (uint64_t{seed()} << 32 | seed()) >> 1;
    const std::string csr = absl::StrCat(dir_, "/", name, ".csr");
    return Run(absl::StrCat(
               "openssl req -new -nodes -newkey ec -pkeyopt "
               "ec_paramgen_curve:prime256v1 -keyout ", key(name), " -out ",
               csr, " -subj '", subject, "'")) &&
           Run(absl::StrCat("openssl x509 -req -in ", csr, " -CA ", pem(ca),
                            " -CAkey ", key(ca), " -set_serial ", serial,
                            " -days 3 -out ", pem(name), " -extfile ",
                            ext_path));
  }

  bool Run(const std::string& command) {
    const std::string line =
        absl::StrCat(command, " >>", dir_, "/openssl.log 2>&1");
    return std::system(line.c_str()) == 0;
  }

  std::string dir_;
};

}  // namespace taala::test

#endif  // TAALA_TESTS_INTEGRATION_TEST_CERTS_H_
