// Helpers shared by the fuzz targets (tests/fuzz, docs/testing.md).
//
// The parsers under test read files (ElfFile maps one, RecordingReader
// streams one), so each input is handed to them as an anonymous memory file
// reached through /proc/self/fd: the same code path as a real binary or
// recording on disk, with nothing written to the file system.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace cgotrace::fuzz {

// An in-memory file holding one fuzz input; closed on destruction.
class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size) : fd_(memfd_create("cgotrace-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) {
      abort();  // the harness itself is broken, not the code under test
    }
    size_t done = 0;
    while (done < size) {
      ssize_t n = write(fd_, data + done, size - done);
      if (n <= 0) {
        abort();
      }
      done += static_cast<size_t>(n);
    }
  }
  ~MemFile() { close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace cgotrace::fuzz
