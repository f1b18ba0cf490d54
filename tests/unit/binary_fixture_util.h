// Helpers for the binary-analysis tests: fixture paths and modified copies
// of fixture binaries in a temp dir.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace cgotrace::test {

inline std::string FixturePath(const std::string& name) {
  return std::string(CGOTRACE_FIXTURE_DIR) + "/" + name;
}

inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A file in the test temp dir, unique per process, removed on destruction.
class TempFile {
 public:
  TempFile(const std::string& name, const std::vector<uint8_t>& bytes)
      : path_(::testing::TempDir() + "cgotrace-" + std::to_string(getpid()) + "-" + name) {
    Write(bytes);
  }
  ~TempFile() { unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void Write(const std::vector<uint8_t>& bytes) const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

template <typename T>
void Poke(std::vector<uint8_t>* bytes, size_t offset, T value) {
  ASSERT_LE(offset + sizeof(T), bytes->size());
  std::memcpy(bytes->data() + offset, &value, sizeof(T));
}

// Removes the section header table reference from an ELF64 image, as
// sstrip-like tools do: e_shoff, e_shnum and e_shstrndx become 0.
inline void DropSectionHeaders(std::vector<uint8_t>* bytes) {
  Poke<uint64_t>(bytes, 0x28, 0);
  Poke<uint16_t>(bytes, 0x3c, 0);
  Poke<uint16_t>(bytes, 0x3e, 0);
}

}  // namespace cgotrace::test
