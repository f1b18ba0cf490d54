// Fuzz target: the recording reader (what `cgotrace report -i` trusts least:
// a file from another machine). Reads every batch and resolves every event's
// names, as the report views do. Seeds: tests/data/*.cgotrace.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cgotrace/recording.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cgotrace::fuzz::MemFile file(data, size);
  auto reader = cgotrace::RecordingReader::Open(file.path());
  if (!reader) {
    return 0;
  }
  std::vector<cgotrace::RecordedEvent> batch;
  while (true) {
    auto more = (*reader)->NextBatch(&batch);
    if (!more || !*more) {
      break;
    }
    for (const cgotrace::RecordedEvent& e : batch) {
      (void)(*reader)->ToCgoEvent(e);
    }
  }
  (void)(*reader)->lost();
  (void)(*reader)->end_monotonic_ns();
  return 0;
}
