#include "sample/thread_sample.h"

#include <cstring>

namespace cgotrace {

Result<std::vector<ThreadSample>> DecodeSamples(std::span<const uint8_t> bytes) {
  std::vector<ThreadSample> out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    cgt_sample raw;
    if (bytes.size() - pos < sizeof(raw)) {
      return MakeError("sample stream truncated at byte {} of {}", pos, bytes.size());
    }
    std::memcpy(&raw, bytes.data() + pos, sizeof(raw));
    pos += sizeof(raw);
    if (raw.n_c_frames > CGT_SAMPLE_C_DEPTH || raw.n_go_frames > CGT_SAMPLE_GO_DEPTH) {
      return MakeError("sample of thread {} has {}+{} frames (limits {}+{})", raw.tid,
                       raw.n_c_frames, raw.n_go_frames, CGT_SAMPLE_C_DEPTH, CGT_SAMPLE_GO_DEPTH);
    }
    size_t frames = static_cast<size_t>(raw.n_c_frames) + raw.n_go_frames;
    if ((bytes.size() - pos) / sizeof(uint64_t) < frames) {
      return MakeError("sample stream truncated in the frames of thread {}", raw.tid);
    }
    ThreadSample s;
    s.pid = raw.pid;
    s.tid = raw.tid;
    s.go_thread = (raw.flags & CGT_SAMPLE_GO) != 0;
    s.in_c = (raw.flags & CGT_SAMPLE_IN_C) != 0;
    s.runnable = (raw.flags & CGT_SAMPLE_RUNNING) != 0;
    s.on_cpu = (raw.flags & CGT_SAMPLE_ON_CPU) != 0;
    s.read_failed = (raw.flags & CGT_SAMPLE_READ_FAIL) != 0;
    s.c_truncated = (raw.flags & CGT_SAMPLE_C_TRUNC) != 0;
    s.same_call = (raw.flags & CGT_SAMPLE_SAME_CALL) != 0;
    s.same_c = (raw.flags & CGT_SAMPLE_SAME_C) != 0;
    s.unchanged = (raw.flags & CGT_SAMPLE_UNCHANGED) != 0;
    s.goid = raw.goid;
    s.ncgocall = raw.ncgocall;
    s.syscallsp = raw.syscallsp;
    s.syscallpc = raw.syscallpc;
    s.stack_hi = raw.stack_hi;
    s.time_ns = raw.time_ns;
    // memcpy from/to an empty vector's null data() is undefined even for 0
    // bytes (UBSan), so empty frame lists copy nothing.
    const auto read_words = [&](std::vector<uint64_t>& words, size_t n) {
      words.resize(n);
      if (n != 0) {
        std::memcpy(words.data(), bytes.data() + pos, n * sizeof(uint64_t));
      }
      pos += n * sizeof(uint64_t);
    };
    read_words(s.c_frames, raw.n_c_frames);
    read_words(s.go_frames, raw.n_go_frames);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace cgotrace
