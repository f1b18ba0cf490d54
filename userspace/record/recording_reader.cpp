// RecordingReader: length-delimited cgotrace.v1 records back into events.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include <google/protobuf/stubs/logging.h>

#include "cgotrace/recording.h"
#include "record/recording_internal.h"

namespace cgotrace {

struct RecordingReader::Impl {
  FILE* file = nullptr;
  std::string path;
  uint64_t offset = 0;         // of the next byte to read
  uint64_t record_offset = 0;  // of the record being applied
  bool at_end = false;
  std::vector<char> buffer = std::vector<char>(1 << 20);

  ~Impl() {
    if (file != nullptr) {
      (void)fclose(file);  // read-only: nothing to flush
    }
  }
  // Reads up to n bytes; returns how many (less than n only at end of file).
  size_t Read(void* dst, size_t n) {
    size_t got = fread(dst, 1, n, file);
    offset += got;
    return got;
  }
};

RecordingReader::RecordingReader() : impl_(std::make_unique<Impl>()) {}
RecordingReader::~RecordingReader() = default;

uint64_t RecordingReader::end_monotonic_ns() const {
  return trailer_ ? trailer_->end_monotonic_ns : last_batch_monotonic_ns_;
}

Result<std::unique_ptr<RecordingReader>> RecordingReader::Open(const std::string& path) {
  // protobuf logs "String field contains invalid UTF-8 data ..." to stderr
  // for a corrupt string before the parse fails; the reader reports that
  // corruption itself, in one line (found by fuzz_recording). Fatal messages
  // still abort.
  static std::once_flag quiet_protobuf;
  std::call_once(quiet_protobuf, [] { google::protobuf::SetLogHandler(nullptr); });
  std::unique_ptr<RecordingReader> r(new RecordingReader());
  Impl& d = *r->impl_;
  d.path = path;
  d.file = fopen(path.c_str(), "rb");
  if (d.file == nullptr) {
    return MakeError("cannot open {}: {}", path, strerror(errno));
  }
  // fopen() opens a directory for reading; only read(2) would fail, with
  // a message ("Is a directory" at byte 0) that hides what went wrong.
  struct stat st {};
  if (fstat(fileno(d.file), &st) == 0 && S_ISDIR(st.st_mode)) {
    return MakeError("{} is a directory, not a recording file", path);
  }
  (void)setvbuf(d.file, d.buffer.data(), _IOFBF, d.buffer.size());  // a hint
  char magic[recording::kMagicSize];
  const size_t got = d.Read(magic, sizeof(magic));
  if (got == 0) {
    return MakeError("{} is empty, not a cgotrace recording", path);
  }
  if (memcmp(magic, kRecordingMagic, got) != 0) {
    return MakeError("{} is not a cgotrace recording (no CGOTRACE magic)", path);
  }
  // The version varint fits in one byte for any version this code knows.
  unsigned char version = 0;
  if (got < sizeof(magic) || d.Read(&version, 1) != 1) {
    return MakeError("{} is truncated before its header", path);
  }
  if (version == 0) {
    return MakeError("{} is corrupt: format version 0", path);
  }
  if (version > kRecordingFormatVersion) {
    return MakeError("{} has format version {}{}, newer than this cgotrace reads ({})", path,
                     version & 0x7f, version & 0x80 ? "+" : "", kRecordingFormatVersion);
  }
  std::string bytes;
  auto more = r->ReadRecord(&bytes);
  if (!more) {
    return more.error();
  }
  if (!*more) {
    return MakeError("{} is truncated before its header", path);
  }
  v1::Record rec;
  if (!rec.ParseFromString(bytes) || !rec.has_header()) {
    return MakeError("{} is corrupt: no header at offset {}", path, d.record_offset);
  }
  r->header_ = recording::FromProto(rec.header());
  r->stacks_.emplace_back();  // id 0: no stack
  return r;
}

Result<bool> RecordingReader::ReadRecord(std::string* bytes) {
  Impl& d = *impl_;
  d.record_offset = d.offset;
  uint64_t length = 0;
  for (int shift = 0;; shift += 7) {
    unsigned char b = 0;
    if (d.Read(&b, 1) != 1) {
      d.at_end = true;
      return false;  // clean end at a record boundary, or cut in the length
    }
    if (shift >= 63) {
      return MakeError("{} is corrupt: bad record length at offset {}", d.path, d.record_offset);
    }
    length |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      break;
    }
  }
  if (length > recording::kMaxRecordBytes) {
    return MakeError("{} is corrupt: record of {} bytes at offset {}", d.path, length,
                     d.record_offset);
  }
  // Grown as the bytes arrive: a corrupt length (up to kMaxRecordBytes) in a
  // short file must not allocate that much first (found by fuzz_recording).
  constexpr uint64_t kChunk = uint64_t{1} << 20;
  bytes->clear();
  while (bytes->size() < length) {
    const size_t at = bytes->size();
    const size_t want = static_cast<size_t>(std::min(kChunk, length - at));
    bytes->resize(at + want);
    if (d.Read(bytes->data() + at, want) != want) {
      d.at_end = true;
      return false;  // cut inside the record
    }
  }
  return true;
}

Result<bool> RecordingReader::NextBatch(std::vector<RecordedEvent>* out) {
  out->clear();
  std::string bytes;
  while (!impl_->at_end) {
    auto more = ReadRecord(&bytes);
    if (!more) {
      return more.error();
    }
    if (!*more) {
      break;
    }
    if (trailer_) {
      return MakeError("{} is corrupt: data after the trailer at offset {}", impl_->path,
                       impl_->record_offset);
    }
    bool is_batch = false;
    CGT_TRY(Apply(bytes, out, &is_batch));
    if (is_batch) {
      return true;
    }
  }
  return false;
}

Result<void> RecordingReader::Apply(const std::string& bytes, std::vector<RecordedEvent>* out,
                                    bool* is_batch) {
  const Impl& d = *impl_;
  auto corrupt = [&](const char* what) {
    return MakeError("{} is corrupt: {} in the record at offset {}", d.path, what, d.record_offset);
  };
  v1::Record rec;
  if (!rec.ParseFromString(bytes)) {
    return corrupt("unparsable protobuf");
  }
  switch (rec.record_case()) {
    case v1::Record::kHeader:
      return corrupt("a second header");
    case v1::Record::kProcess: {
      const v1::Process& p = rec.process();
      if (p.index() != processes_.size()) {
        return corrupt("out-of-order process index");
      }
      processes_.push_back({p.pid(), p.comm(), p.binary_path(), p.build_id(), p.go_version()});
      return Ok();
    }
    case v1::Record::kStrings:
      if (rec.strings().first_id() != strings_.size()) {
        return corrupt("out-of-order string ids");
      }
      strings_.insert(strings_.end(), rec.strings().strings().begin(),
                      rec.strings().strings().end());
      return Ok();
    case v1::Record::kStack: {
      const v1::Stack& s = rec.stack();
      if (s.id() != stacks_.size()) {
        return corrupt("out-of-order stack id");
      }
      RecordedStack& st = stacks_.emplace_back();
      for (uint32_t f : s.frames()) {
        if (f >= strings_.size()) {
          return corrupt("unknown frame name");
        }
        st.frames.push_back(f);
      }
      st.pcs.assign(s.pcs().begin(), s.pcs().end());
      if (s.files_size() != 0 || s.lines_size() != 0) {
        if (s.files_size() != s.pcs_size() || s.lines_size() != s.pcs_size()) {
          return corrupt("stack with different numbers of PCs and source lines");
        }
        for (uint32_t f : s.files()) {
          if (f >= strings_.size()) {
            return corrupt("unknown source file name");
          }
        }
        st.files.assign(s.files().begin(), s.files().end());
        st.lines.assign(s.lines().begin(), s.lines().end());
      }
      st.truncated = s.truncated();
      return Ok();
    }
    case v1::Record::kTrailer:
      trailer_ = recording::FromProto(rec.trailer());
      return Ok();
    case v1::Record::kEvents:
      break;
    case v1::Record::RECORD_NOT_SET:
      // A record type added by a later cgotrace of the same format version.
      return Ok();
  }
  const v1::EventBatch& b = rec.events();
  const int n = static_cast<int>(b.count());
  if (b.count() > recording::kMaxBatchEvents || b.start_delta_ns_size() != n ||
      b.duration_ns_size() != n || b.func_kind_size() != n || b.goid_size() != n ||
      b.tid_delta_size() != n || b.stack_depth_size() != n ||
      (b.process_size() != 0 && b.process_size() != n) ||
      (b.stack_size() != 0 && b.stack_size() != n) || (b.c_ns_size() != 0 && b.c_ns_size() != n) ||
      (b.sched_ns_size() != 0 && b.sched_ns_size() != n)) {
    return corrupt("columns of different lengths");
  }
  out->resize(static_cast<size_t>(n));
  uint64_t start = 0;
  for (int i = 0; i < n; ++i) {
    RecordedEvent& e = (*out)[static_cast<size_t>(i)];
    start += static_cast<uint64_t>(b.start_delta_ns(i));
    e.start_ns = start;
    e.duration_ns = b.duration_ns(i);
    e.c_ns = b.c_ns_size() ? b.c_ns(i) : 0;
    e.sched_ns = b.sched_ns_size() ? b.sched_ns(i) : 0;
    e.func = b.func_kind(i) >> 1;
    e.kind = (b.func_kind(i) & 1) ? EventKind::kCallback : EventKind::kCall;
    e.goid = b.goid(i);
    e.stack_depth = b.stack_depth(i);
    e.process = b.process_size() ? b.process(i) : 0;
    e.stack = b.stack_size() ? b.stack(i) : 0;
    if (e.func >= strings_.size() || e.process >= processes_.size() || e.stack >= stacks_.size()) {
      return corrupt("an event naming an unknown string, process or stack");
    }
    e.tid = static_cast<uint32_t>(static_cast<int64_t>(processes_[e.process].pid) + b.tid_delta(i));
  }
  events_read_ += static_cast<uint64_t>(n);
  batch_lost_ = b.lost();
  last_batch_monotonic_ns_ = b.written_monotonic_ns();
  *is_batch = true;
  return Ok();
}

CgoEvent RecordingReader::ToCgoEvent(const RecordedEvent& e) const {
  CgoEvent ev;
  const RecordedProcess& p = processes_[e.process];
  ev.kind = e.kind;
  ev.pid = p.pid;
  ev.tid = e.tid;
  ev.goid = e.goid;
  ev.func = strings_[e.func];
  ev.comm = p.comm;
  ev.binary_path = p.binary_path;
  ev.start_ns = e.start_ns;
  ev.duration_ns = e.duration_ns;
  ev.c_ns = e.c_ns;
  ev.sched_ns = e.sched_ns;
  ev.stack_depth = e.stack_depth;
  const RecordedStack& s = stacks_[e.stack];
  ev.stack = s.pcs;
  for (uint32_t f : s.frames) {
    ev.frames.push_back(strings_[f]);
  }
  return ev;
}

Result<LoadedRecording> LoadRecording(const std::string& path) {
  LoadedRecording out;
  auto reader = RecordingReader::Open(path);
  if (!reader) {
    return reader.error();
  }
  out.reader = std::move(*reader);
  std::vector<RecordedEvent> batch;
  for (;;) {
    auto more = out.reader->NextBatch(&batch);
    if (!more) {
      return more.error();
    }
    if (!*more) {
      break;
    }
    out.events.insert(out.events.end(), batch.begin(), batch.end());
  }
  return out;
}

}  // namespace cgotrace
