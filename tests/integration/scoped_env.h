#ifndef TAALA_TESTS_INTEGRATION_SCOPED_ENV_H_
#define TAALA_TESTS_INTEGRATION_SCOPED_ENV_H_

// Environment variables set for one scope: processes the test starts
// (taalad, taalactl) inherit them; the destructor unsets them.

#include <stdlib.h>

#include <string>
#include <vector>

namespace taala::test {

class ScopedEnv {
 public:
  ScopedEnv() = default;
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    for (const std::string& name : names_) unsetenv(name.c_str());
  }
  void Set(const std::string& name, const std::string& value) {
    setenv(name.c_str(), value.c_str(), 1);
    names_.push_back(name);
  }

 private:
  std::vector<std::string> names_;
};

}  // namespace taala::test

#endif  // TAALA_TESTS_INTEGRATION_SCOPED_ENV_H_
