#ifndef TAALA_TESTS_INTEGRATION_TEMP_DIR_FIXTURE_H_
#define TAALA_TESTS_INTEGRATION_TEMP_DIR_FIXTURE_H_

// A fixture for tests that start taalad with files of their own (tokens,
// ACLs, certificates): a fresh temporary directory, files written through a
// rename (the daemon never reads half a file), and on failure the daemon's
// log; the directory is removed when the test passed.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/integration/taalad_process.h"

namespace taala::test {

class TempDirFixture : public ::testing::Test {
 protected:
  // Makes dir_ under $TMPDIR (or /tmp), named after `prefix`.
  void MakeDir(const std::string& prefix) {
    const char* tmp = getenv("TMPDIR");
    dir_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", prefix, "_XXXXXX");
    ASSERT_NE(mkdtemp(dir_.data()), nullptr);
  }
  void TearDown() override {
    if (HasFailure() && daemon_ != nullptr) {
      std::cerr << "---- taalad log ----\n" << daemon_->Log();
    }
    daemon_.reset();
    std::error_code ignored;
    if (!HasFailure() && !dir_.empty()) {
      std::filesystem::remove_all(dir_, ignored);
    }
  }
  void WriteFile(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp);
      out << text;
    }
    ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
  }

  std::string dir_;
  std::unique_ptr<TaaladProcess> daemon_;
};

}  // namespace taala::test

#endif  // TAALA_TESTS_INTEGRATION_TEMP_DIR_FIXTURE_H_
