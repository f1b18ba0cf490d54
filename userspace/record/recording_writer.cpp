// RecordingWriter: CgoEvents into length-delimited cgotrace.v1 records.
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <unordered_map>
#include <utility>

#include "cgotrace/recording.h"
#include "cgotrace_abi.h"
#include "record/recording_internal.h"
#include "util/clock.h"
#include "util/hex.h"

namespace cgotrace {
namespace {

// A capture that filled every slot (the tracer drops runtime.cgocall's own
// frame) probably lost its outermost frames.
constexpr size_t kFullCapture = CGT_STACK_DEPTH - 1;

}  // namespace

struct RecordingWriter::Impl {
  int fd = -1;
  std::string path;
  uint32_t batch_events = kDefaultBatchEvents;

  v1::EventBatch batch;
  uint64_t prev_start = 0;
  bool batch_has_process = false;
  bool batch_has_stack = false;
  bool batch_has_c = false;
  bool batch_has_sched = false;

  std::unordered_map<std::string, uint32_t> string_ids;
  v1::Strings pending_strings;

  struct ProcessKey {
    uint32_t pid;
    std::string binary_path;
    std::string comm;
    // clang-tidy reads the synthesized <=> as comparing with a 0 literal.
    auto operator<=>(const ProcessKey&) const = default;  // NOLINT(modernize-use-nullptr)
  };
  std::map<ProcessKey, uint32_t> process_ids;
  std::vector<v1::Process> pending_processes;
  // Per binary: build id and Go version, asked of the tracer once.
  BinaryLookup lookup;
  std::map<std::string, RecordedBinary> binaries;

  // Key: the binary's string id and the PCs, or (no PCs) the frame names.
  std::unordered_map<std::string, uint32_t> stack_ids;
  std::vector<v1::Stack> pending_stacks;
  uint32_t next_stack_id = 1;

  uint32_t Intern(const std::string& s);
  const RecordedBinary& Binary(const std::string& path);
  uint32_t ProcessIndex(const CgoEvent& ev);
  uint32_t StackId(const CgoEvent& ev);
  Result<void> WriteAll(const std::string& bytes);
};

uint32_t RecordingWriter::Impl::Intern(const std::string& s) {
  auto [it, inserted] = string_ids.try_emplace(s, static_cast<uint32_t>(string_ids.size()));
  if (inserted) {
    if (pending_strings.strings_size() == 0) {
      pending_strings.set_first_id(it->second);
    }
    pending_strings.add_strings(s);
  }
  return it->second;
}

const RecordedBinary& RecordingWriter::Impl::Binary(const std::string& bin_path) {
  auto [it, inserted] = binaries.try_emplace(bin_path);
  if (inserted && lookup) {
    it->second = lookup(bin_path);
  }
  return it->second;
}

uint32_t RecordingWriter::Impl::ProcessIndex(const CgoEvent& ev) {
  ProcessKey key{ev.pid, ev.binary_path, ev.comm};
  auto it = process_ids.find(key);
  if (it != process_ids.end()) {
    return it->second;
  }
  const uint32_t index = static_cast<uint32_t>(process_ids.size());
  process_ids.emplace(std::move(key), index);
  const RecordedBinary& bin = Binary(ev.binary_path);
  v1::Process& p = pending_processes.emplace_back();
  p.set_index(index);
  p.set_pid(ev.pid);
  p.set_comm(ev.comm);
  p.set_binary_path(bin.path.empty() ? ev.binary_path : bin.path);
  p.set_build_id(bin.build_id);
  p.set_go_version(bin.go_version);
  return index;
}

uint32_t RecordingWriter::Impl::StackId(const CgoEvent& ev) {
  if (ev.stack.empty() && ev.frames.empty()) {
    return 0;
  }
  std::string key;
  if (!ev.stack.empty()) {
    const uint32_t bin = Intern(ev.binary_path);
    key.assign(reinterpret_cast<const char*>(&bin), sizeof(bin));
    key.append(reinterpret_cast<const char*>(ev.stack.data()), ev.stack.size() * sizeof(uint64_t));
  } else {
    key.push_back('\0');  // never equal to a PC key, which is at least 12 bytes
    for (const std::string& f : ev.frames) {
      const uint32_t id = Intern(f);
      key.append(reinterpret_cast<const char*>(&id), sizeof(id));
    }
  }
  auto [it, inserted] = stack_ids.try_emplace(std::move(key), next_stack_id);
  if (!inserted) {
    return it->second;
  }
  ++next_stack_id;
  v1::Stack& s = pending_stacks.emplace_back();
  s.set_id(it->second);
  for (uint64_t pc : ev.stack) {
    s.add_pcs(pc);
  }
  // The tracer symbolized the frames with the pclntab it already holds;
  // PCs it could not name (and events from elsewhere without names) are
  // stored as addresses.
  if (!ev.frames.empty()) {
    for (const std::string& f : ev.frames) {
      s.add_frames(Intern(f));
    }
  } else {
    for (uint64_t pc : ev.stack) {
      s.add_frames(Intern(HexAddr(pc)));
    }
  }
  if (!ev.stack.empty()) {
    const RecordedBinary& bin = Binary(ev.binary_path);
    if (bin.position_of) {
      for (uint64_t pc : ev.stack) {
        // A frame's PC is the return address: the call is the byte before.
        const SourcePosition at = pc > 0 ? bin.position_of(pc - 1) : SourcePosition{};
        s.add_files(Intern(at.file));
        s.add_lines(at.line);
      }
    }
  }
  s.set_truncated(static_cast<size_t>(s.frames_size()) >= kFullCapture);
  return it->second;
}

Result<void> RecordingWriter::Impl::WriteAll(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return MakeError("writing {}: {}", path, n < 0 ? strerror(errno) : "short write");
    }
    done += static_cast<size_t>(n);
  }
  return Ok();
}

namespace {

void AppendRecord(const v1::Record& record, std::string* out) {
  recording::AppendVarint(record.ByteSizeLong(), out);
  record.AppendToString(out);
}

}  // namespace

RecordingWriter::RecordingWriter() : impl_(std::make_unique<Impl>()) {}

RecordingWriter::~RecordingWriter() {
  if (impl_->fd >= 0) {
    close(impl_->fd);
  }
}

Result<std::unique_ptr<RecordingWriter>> RecordingWriter::Create(const std::string& path,
                                                                 const RecordingHeader& header,
                                                                 BinaryLookup lookup) {
  std::unique_ptr<RecordingWriter> w(new RecordingWriter());
  w->impl_->path = path;
  w->impl_->lookup = std::move(lookup);
  w->impl_->batch_events = header.batch_events == 0 ? kDefaultBatchEvents : header.batch_events;
  if (w->impl_->batch_events > recording::kMaxBatchEvents) {
    return MakeError("{} events per batch is more than the format allows ({})",
                     w->impl_->batch_events, recording::kMaxBatchEvents);
  }
  w->impl_->fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->impl_->fd < 0) {
    return MakeError("cannot create {}: {}", path, strerror(errno));
  }
  RecordingHeader h = header;
  h.format_version = kRecordingFormatVersion;
  h.batch_events = w->impl_->batch_events;
  std::string bytes(kRecordingMagic, recording::kMagicSize);
  recording::AppendVarint(kRecordingFormatVersion, &bytes);
  v1::Record rec;
  *rec.mutable_header() = recording::ToProto(h);
  AppendRecord(rec, &bytes);
  CGT_TRY(w->impl_->WriteAll(bytes));
  w->bytes_ = bytes.size();
  return w;
}

Result<void> RecordingWriter::Add(const CgoEvent& ev) {
  Impl& d = *impl_;
  const uint32_t process = d.ProcessIndex(ev);
  const uint32_t stack = d.StackId(ev);
  const uint32_t func = d.Intern(ev.func);
  d.batch.add_start_delta_ns(static_cast<int64_t>(ev.start_ns - d.prev_start));
  d.prev_start = ev.start_ns;
  d.batch.add_duration_ns(ev.duration_ns);
  d.batch.add_func_kind(func << 1 | (ev.kind == EventKind::kCallback ? 1 : 0));
  d.batch.add_goid(ev.goid);
  d.batch.add_tid_delta(static_cast<int64_t>(ev.tid) - static_cast<int64_t>(ev.pid));
  d.batch.add_stack_depth(ev.stack_depth);
  d.batch.add_process(process);
  d.batch.add_stack(stack);
  d.batch_has_process |= process != 0;
  d.batch_has_stack |= stack != 0;
  d.batch.add_c_ns(ev.c_ns);
  d.batch.add_sched_ns(ev.sched_ns);
  d.batch_has_c |= ev.c_ns != 0;
  d.batch_has_sched |= ev.sched_ns != 0;
  ++events_;
  if (static_cast<uint32_t>(d.batch.duration_ns_size()) >= d.batch_events) {
    return Flush();
  }
  return Ok();
}

Result<void> RecordingWriter::Flush() {
  Impl& d = *impl_;
  const int count = d.batch.duration_ns_size();
  if (count == 0) {
    return Ok();
  }
  // Everything the batch refers to goes in the same write(2), before it.
  std::string bytes;
  v1::Record rec;
  for (v1::Process& p : d.pending_processes) {
    rec.mutable_process()->Swap(&p);
    AppendRecord(rec, &bytes);
  }
  d.pending_processes.clear();
  if (d.pending_strings.strings_size() != 0) {
    rec.mutable_strings()->Swap(&d.pending_strings);
    AppendRecord(rec, &bytes);
    d.pending_strings.Clear();
  }
  for (v1::Stack& s : d.pending_stacks) {
    rec.mutable_stack()->Swap(&s);
    AppendRecord(rec, &bytes);
  }
  d.pending_stacks.clear();

  d.batch.set_count(static_cast<uint32_t>(count));
  d.batch.set_lost(lost_);
  d.batch.set_written_monotonic_ns(MonotonicNs());
  if (!d.batch_has_process) {
    d.batch.clear_process();
  }
  if (!d.batch_has_stack) {
    d.batch.clear_stack();
  }
  if (!d.batch_has_c) {
    d.batch.clear_c_ns();
  }
  if (!d.batch_has_sched) {
    d.batch.clear_sched_ns();
  }
  rec.mutable_events()->Swap(&d.batch);
  AppendRecord(rec, &bytes);
  rec.mutable_events()->Swap(&d.batch);
  d.batch.Clear();
  d.prev_start = 0;
  d.batch_has_process = false;
  d.batch_has_stack = false;
  d.batch_has_c = false;
  d.batch_has_sched = false;

  CGT_TRY(d.WriteAll(bytes));
  bytes_ += bytes.size();
  return Ok();
}

Result<void> RecordingWriter::Finish(RecordingTrailer trailer) {
  CGT_TRY(Flush());
  trailer.events = events_;
  if (trailer.end_monotonic_ns == 0 && trailer.end_realtime_ns == 0) {
    trailer.end_realtime_ns = RealtimeNs();
    trailer.end_monotonic_ns = MonotonicNs();
  }
  v1::Record rec;
  *rec.mutable_trailer() = recording::ToProto(trailer);
  std::string bytes;
  AppendRecord(rec, &bytes);
  CGT_TRY(impl_->WriteAll(bytes));
  bytes_ += bytes.size();
  const int fd = impl_->fd;
  impl_->fd = -1;
  // A recording is read after cgotrace exits: make a full disk show up here.
  if (fsync(fd) != 0 && errno != EINVAL) {
    const int err = errno;
    close(fd);
    return MakeError("writing {}: {}", impl_->path, strerror(err));
  }
  if (close(fd) != 0) {
    return MakeError("writing {}: {}", impl_->path, strerror(errno));
  }
  return Ok();
}

}  // namespace cgotrace
