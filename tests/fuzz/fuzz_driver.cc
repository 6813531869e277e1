// Where libFuzzer is missing, the fuzz targets link this main instead: it
// runs every seed in the corpus directory, then a deterministic (seeded)
// mutation loop over them, so the suite always exercises the target.
//   <target> <corpus_dir> [iterations]

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void RunOne(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()),
                         input.size());
}

std::string Mutate(std::string s, const std::vector<std::string>& seeds,
                   std::mt19937_64& rng) {
  const int steps = 1 + static_cast<int>(rng() % 8);
  for (int i = 0; i < steps; ++i) {
    const size_t pos = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 6) {
      case 0:  // Flip a bit.
        if (!s.empty()) s[pos] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1:  // Set a byte.
        if (!s.empty()) s[pos] = static_cast<char>(rng());
        break;
      case 2:  // Insert a byte.
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(pos),
                 static_cast<char>(rng()));
        break;
      case 3:  // Erase a run.
        if (!s.empty()) s.erase(pos, 1 + rng() % 8);
        break;
      case 4: {  // Splice in part of another seed.
        const std::string& other = seeds[rng() % seeds.size()];
        if (other.empty()) break;
        const size_t from = rng() % other.size();
        s.insert(pos, other.substr(from, 1 + rng() % 32));
        break;
      }
      case 5:  // An interesting byte.
        if (!s.empty()) {
          static const char kBytes[] = {0, 1, 0x7f, '\x80', '\xff', 0x0a};
          s[pos] = kBytes[rng() % sizeof(kBytes)];
        }
        break;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <corpus_dir> [iterations]\n", argv[0]);
    return 2;
  }
  const long iterations = argc > 2 ? std::atol(argv[2]) : 20000;
  // In name order: directory order differs between file systems, and the
  // mutation loop picks seeds by index, so a run is only repeatable (a
  // failure reproducible) with a fixed order.
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1])) {
    if (entry.is_regular_file()) paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::string> seeds;
  for (const std::filesystem::path& path : paths) {
    std::ifstream in(path, std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in),
                       std::istreambuf_iterator<char>());
  }
  if (seeds.empty()) {
    std::fprintf(stderr, "no seeds in %s\n", argv[1]);
    return 2;
  }
  for (const std::string& seed : seeds) RunOne(seed);
  std::mt19937_64 rng(20261202);
  for (long i = 0; i < iterations; ++i) {
    RunOne(Mutate(seeds[rng() % seeds.size()], seeds, rng));
  }
  std::printf("ran %zu seeds and %ld mutations\n", seeds.size(), iterations);
  return 0;
}
