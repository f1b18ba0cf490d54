// Runs a fuzz target's LLVMFuzzerTestOneInput once on each file named on the
// command line (or each file in a named directory), without libFuzzer: the
// regular and sanitizer builds replay the committed regression inputs and
// small seeds with it (CTest label unit). Exit 0 when every input ran.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int RunFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "fuzz replay: cannot read %s\n", path.c_str());
    return 1;
  }
  std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int ran = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file()) {
          if (RunFile(entry.path()) != 0) {
            return 1;
          }
          ++ran;
        }
      }
    } else {
      if (RunFile(arg) != 0) {
        return 1;
      }
      ++ran;
    }
  }
  std::printf("fuzz replay: %d inputs ran\n", ran);
  return 0;
}
