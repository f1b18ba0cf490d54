// Perfetto native trace of a recording (see perfetto_trace.h).
#include "formats/perfetto_trace.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "perfetto_trace.pb.h"
#include "record/event_tree.h"

namespace cgotrace {
namespace {

namespace pf = ::cgotrace::perfetto;

// Field numbers of the hand-encoded hot packets (perfetto_trace.proto).
enum : uint32_t {
  kTracePacket = 1,        // Trace.packet
  kTimestamp = 8,          // TracePacket
  kSequenceId = 10,        // TracePacket.trusted_packet_sequence_id
  kTrackEvent = 11,        // TracePacket
  kInternedData = 12,      // TracePacket
  kSequenceFlags = 13,     // TracePacket
  kDebugAnnotations = 4,   // TrackEvent
  kType = 9,               // TrackEvent
  kNameIid = 10,           // TrackEvent
  kTrackUuid = 11,         // TrackEvent
  kAnnotationNameIid = 1,  // DebugAnnotation
  kUintValue = 3,          // DebugAnnotation
  kStringValueIid = 17,    // DebugAnnotation
};
enum : uint32_t { kVarint = 0, kLength = 2 };

constexpr uint32_t kSequence = 1;
// Sequence-scoped clock ids are 64-127; this one is incremental: every
// packet's timestamp is the delta from the previous packet's.
constexpr uint32_t kIncrementalClock = 64;
constexpr uint64_t kTidName = 1;  // DebugAnnotationName iids
constexpr uint64_t kStackName = 2;

void Varint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void Tag(std::string* out, uint32_t field, uint32_t wire) { Varint(out, field << 3 | wire); }

void VarintField(std::string* out, uint32_t field, uint64_t v) {
  Tag(out, field, kVarint);
  Varint(out, v);
}

void BytesField(std::string* out, uint32_t field, std::string_view bytes) {
  Tag(out, field, kLength);
  Varint(out, bytes.size());
  out->append(bytes);
}

// One point of the timeline: a slice begins or ends.
// At one timestamp: 0, ends of slices that began earlier; 1, begins; 2, ends
// of slices that began at that timestamp (zero duration). Within a class,
// begins go outermost first and ends innermost first, so slices on a track
// nest. Packed below the timestamp in one sort key.
constexpr unsigned kDepthBits = 16;
constexpr unsigned kClassBits = 2;
constexpr uint32_t kMaxDepth = (1u << kDepthBits) - 1;
constexpr uint32_t kBegin = 1;

// What an edge begins or ends: an event's slice, or one of the two phases
// of a call's latency breakdown nested in it.
enum Part : uint8_t { kEvent, kInC, kReEntering };
constexpr const char* kPartNames[] = {"", "in C", "re-entering Go"};

struct Edge {
  // (ts - t0) << 18 | class << 16 | depth code: 2^46 ns (19 hours) of
  // recording fit; the writer checks.
  uint64_t key;
  uint32_t event;
  Part part;
  bool operator<(const Edge& o) const {
    return key != o.key ? key < o.key : event != o.event ? event < o.event : part < o.part;
  }
  uint64_t ts_offset() const { return key >> (kDepthBits + kClassBits); }
  uint32_t cls() const { return static_cast<uint32_t>(key >> kDepthBits) & 3; }
};

// Offsets beyond this (a recording over 19 hours long) are clamped.
constexpr uint64_t kMaxOffset = (uint64_t{1} << (64 - kDepthBits - kClassBits)) - 1;

Edge MakeEdge(uint64_t ts_offset, uint32_t cls, uint32_t depth, uint32_t event,
              Part part = kEvent) {
  const uint32_t d = std::min(depth, kMaxDepth);
  const uint32_t code = cls == kBegin ? d : kMaxDepth - d;
  return {ts_offset << (kDepthBits + kClassBits) | uint64_t{cls} << kDepthBits | code, event, part};
}

// Per event: whether its slice gets the breakdown's two phases, "in C"
// [start, start + c_ns] and "re-entering Go" [start + c_ns, start + c_ns +
// sched_ns]. Only calls measured with --breakdown (sched_ns; then duration_ns
// = c_ns + sched_ns), and only where the events nested in the call (its
// callbacks) lie in its C part, as they do: anything else (clock or data
// trouble) would break the nesting of slices on the track.
std::vector<bool> PhasedEvents(const std::vector<RecordedEvent>& ev, const EventTree& tree) {
  std::vector<bool> phased(ev.size(), false);
  for (uint32_t i = 0; i < ev.size(); ++i) {
    const RecordedEvent& e = ev[i];
    phased[i] = e.kind == EventKind::kCall && e.c_ns != 0 && e.sched_ns != 0 &&
                e.c_ns + e.sched_ns <= e.duration_ns;
  }
  for (uint32_t i = 0; i < ev.size(); ++i) {
    const uint32_t p = tree.parent[i];
    if (p != EventTree::kNone && phased[p] &&
        ev[i].start_ns + ev[i].duration_ns > ev[p].start_ns + ev[p].c_ns) {
      phased[p] = false;
    }
  }
  return phased;
}

class Writer {
 public:
  explicit Writer(const LoadedRecording& rec) : rec_(rec), r_(*rec.reader) {}
  std::string Run();

 private:
  void Packet(const std::string& bytes) { BytesField(&out_, kTracePacket, bytes); }
  void Packet(const pf::TracePacket& p) { Packet(p.SerializeAsString()); }
  void Start(uint64_t t0);
  void Tracks(const EventTree& tree);
  std::string StackText(uint32_t stack) const;
  void Slice(uint64_t delta, uint32_t idx, pf::TrackEvent::Type type);
  void Begin(uint64_t delta, uint32_t idx);
  void BeginPhase(uint64_t delta, uint32_t idx, Part part);
  void End(uint64_t delta, uint32_t idx);

  const LoadedRecording& rec_;
  const RecordingReader& r_;
  std::string out_;
  // Reused per packet, so the hot loop allocates nothing.
  std::string scratch_;
  std::string event_;
  std::string annotation_;
  std::vector<uint32_t> track_of_;  // per event: index into track_uuid_
  std::vector<bool> name_sent_;     // per string id
  std::vector<bool> stack_sent_;    // per stack id
  uint64_t phase_iid_ = 0;          // event name iid of kInC; kReEntering's is next
  bool phase_sent_[3] = {};
};

void Writer::Start(uint64_t t0) {
  const RecordingHeader& h = r_.header();
  pf::TracePacket p;
  p.set_trusted_packet_sequence_id(kSequence);
  p.set_first_packet_on_sequence(true);
  p.set_sequence_flags(pf::TracePacket::SEQ_INCREMENTAL_STATE_CLEARED);
  p.set_timestamp(t0);
  p.set_timestamp_clock_id(pf::BUILTIN_CLOCK_MONOTONIC);
  pf::ClockSnapshot* clocks = p.mutable_clock_snapshot();
  pf::ClockSnapshot::Clock* mono = clocks->add_clocks();
  mono->set_clock_id(pf::BUILTIN_CLOCK_MONOTONIC);
  mono->set_timestamp(t0);
  if (h.start_realtime_ns != 0) {
    pf::ClockSnapshot::Clock* real = clocks->add_clocks();
    real->set_clock_id(pf::BUILTIN_CLOCK_REALTIME);
    real->set_timestamp(h.start_realtime_ns + t0 - h.start_monotonic_ns);
  }
  pf::ClockSnapshot::Clock* inc = clocks->add_clocks();
  inc->set_clock_id(kIncrementalClock);
  inc->set_timestamp(t0);
  inc->set_is_incremental(true);
  clocks->set_primary_trace_clock(pf::BUILTIN_CLOCK_MONOTONIC);
  p.mutable_trace_packet_defaults()->set_timestamp_clock_id(kIncrementalClock);
  pf::InternedData* interned = p.mutable_interned_data();
  for (auto [iid, name] : {std::pair{kTidName, "tid"}, std::pair{kStackName, "stack"}}) {
    pf::DebugAnnotationName* n = interned->add_debug_annotation_names();
    n->set_iid(iid);
    n->set_name(name);
  }
  Packet(p);
}

// Process tracks, goroutine tracks under them, and each event's track.
void Writer::Tracks(const EventTree& tree) {
  const std::vector<RecordedEvent>& ev = rec_.events;
  // (process, goid, overlapping) -> track index; uuids are index + 1 after
  // the process tracks, small so that they encode in few bytes.
  std::map<std::tuple<uint32_t, uint64_t, bool>, uint32_t> goroutines;
  track_of_.assign(ev.size(), 0);
  // tree.order groups each goroutine's events: look its track up once.
  std::tuple<uint32_t, uint64_t, bool> last_key{UINT32_MAX, 0, false};
  uint32_t last_track = 0;
  for (uint32_t idx : tree.order) {
    const RecordedEvent& e = ev[idx];
    const uint32_t parent = tree.parent[idx];
    if (parent != EventTree::kNone) {
      track_of_[idx] = track_of_[parent];
      continue;
    }
    const std::tuple<uint32_t, uint64_t, bool> key{e.process, e.goid, tree.overlaps[idx]};
    if (key != last_key) {
      last_key = key;
      last_track =
          goroutines.try_emplace(key, static_cast<uint32_t>(goroutines.size())).first->second;
    }
    track_of_[idx] = last_track;
  }
  const uint64_t first_goroutine_uuid = r_.processes().size() + 1;
  for (uint32_t i = 0; i < r_.processes().size(); ++i) {
    const RecordedProcess& proc = r_.process(i);
    pf::TracePacket p;
    p.set_trusted_packet_sequence_id(kSequence);
    p.set_timestamp(0);
    pf::TrackDescriptor* d = p.mutable_track_descriptor();
    d->set_uuid(i + 1);
    d->mutable_process()->set_pid(static_cast<int32_t>(proc.pid));
    d->mutable_process()->set_process_name(proc.comm);
    d->set_child_ordering(pf::TrackDescriptor::EXPLICIT);
    Packet(p);
  }
  for (const auto& [key, index] : goroutines) {
    const auto& [process, goid, overlapping] = key;
    pf::TracePacket p;
    p.set_trusted_packet_sequence_id(kSequence);
    p.set_timestamp(0);
    pf::TrackDescriptor* d = p.mutable_track_descriptor();
    d->set_uuid(first_goroutine_uuid + index);
    d->set_parent_uuid(process + 1);
    d->set_name(fmt::format("goroutine {}{}", goid, overlapping ? " (overlapping)" : ""));
    d->set_sibling_order_rank(static_cast<int32_t>(std::min<uint64_t>(goid, INT32_MAX)));
    Packet(p);
  }
  for (uint32_t& t : track_of_) {
    t += static_cast<uint32_t>(first_goroutine_uuid);
  }
}

std::string Writer::StackText(uint32_t stack) const {
  const RecordedStack& s = r_.stack(stack);
  std::string text;
  const bool lines = s.lines.size() == s.frames.size();
  for (size_t i = 0; i < s.frames.size(); ++i) {
    text += i ? "\n" : "";
    text += r_.str(s.frames[i]);
    if (lines && s.lines[i] != 0) {
      fmt::format_to(std::back_inserter(text), " {}:{}", r_.str(s.files[i]), s.lines[i]);
    }
  }
  if (s.truncated) {
    text += "\n[truncated]";
  }
  return text;
}

// Starts the packet of event `idx`'s slice begin or end in scratch_ (time,
// sequence) and its track event in event_ (type, track).
void Writer::Slice(uint64_t delta, uint32_t idx, pf::TrackEvent::Type type) {
  scratch_.clear();
  VarintField(&scratch_, kTimestamp, delta);
  VarintField(&scratch_, kSequenceId, kSequence);
  VarintField(&scratch_, kSequenceFlags, pf::TracePacket::SEQ_NEEDS_INCREMENTAL_STATE);
  event_.clear();
  VarintField(&event_, kType, type);
  VarintField(&event_, kTrackUuid, track_of_[idx]);
}

void Writer::Begin(uint64_t delta, uint32_t idx) {
  const RecordedEvent& e = rec_.events[idx];
  Slice(delta, idx, pf::TrackEvent::TYPE_SLICE_BEGIN);
  std::string& p = scratch_;
  std::string& te = event_;
  VarintField(&te, kNameIid, uint64_t{e.func} + 1);
  std::string& a = annotation_;
  a.clear();
  VarintField(&a, kAnnotationNameIid, kTidName);
  VarintField(&a, kUintValue, e.tid);
  BytesField(&te, kDebugAnnotations, a);
  if (e.stack != 0) {
    a.clear();
    VarintField(&a, kAnnotationNameIid, kStackName);
    VarintField(&a, kStringValueIid, e.stack);
    BytesField(&te, kDebugAnnotations, a);
  }
  BytesField(&p, kTrackEvent, te);
  const bool new_name = !name_sent_[e.func];
  const bool new_stack = e.stack != 0 && !stack_sent_[e.stack];
  if (new_name || new_stack) {
    pf::InternedData interned;
    if (new_name) {
      name_sent_[e.func] = true;
      pf::EventName* n = interned.add_event_names();
      n->set_iid(uint64_t{e.func} + 1);
      n->set_name(r_.str(e.func));
    }
    if (new_stack) {
      stack_sent_[e.stack] = true;
      pf::InternedString* s = interned.add_debug_annotation_string_values();
      s->set_iid(e.stack);
      s->set_str(StackText(e.stack));
    }
    BytesField(&p, kInternedData, interned.SerializeAsString());
  }
  Packet(p);
}

// A phase of call `idx`'s breakdown: a slice on the call's track, named by
// the phase, without arguments (the call's slice has them).
void Writer::BeginPhase(uint64_t delta, uint32_t idx, Part part) {
  Slice(delta, idx, pf::TrackEvent::TYPE_SLICE_BEGIN);
  const uint64_t iid = phase_iid_ + part - kInC;
  VarintField(&event_, kNameIid, iid);
  BytesField(&scratch_, kTrackEvent, event_);
  if (!phase_sent_[part]) {
    phase_sent_[part] = true;
    pf::InternedData interned;
    pf::EventName* n = interned.add_event_names();
    n->set_iid(iid);
    n->set_name(kPartNames[part]);
    BytesField(&scratch_, kInternedData, interned.SerializeAsString());
  }
  Packet(scratch_);
}

void Writer::End(uint64_t delta, uint32_t idx) {
  Slice(delta, idx, pf::TrackEvent::TYPE_SLICE_END);
  BytesField(&scratch_, kTrackEvent, event_);
  Packet(scratch_);
}

std::string Writer::Run() {
  const std::vector<RecordedEvent>& ev = rec_.events;
  uint64_t t0 = r_.header().start_monotonic_ns;
  for (const RecordedEvent& e : ev) {
    t0 = std::min(t0, e.start_ns);
  }
  const EventTree tree = BuildEventTree(ev);
  out_.reserve(ev.size() * 32 + 4096);
  Start(t0);
  Tracks(tree);

  // A phased call's phases are one level below it, and what nests in the
  // call (its callbacks) one level below its "in C" phase.
  const std::vector<bool> phased = PhasedEvents(ev, tree);
  std::vector<uint32_t> depth(ev.size(), 0);
  for (uint32_t idx : tree.order) {
    const uint32_t p = tree.parent[idx];
    depth[idx] = p == EventTree::kNone ? 0 : depth[p] + (phased[p] ? 2 : 1);
  }
  std::vector<Edge> edges;
  edges.reserve(ev.size() * 2);
  auto offset = [&](uint64_t t) { return std::min(t - t0, kMaxOffset); };
  for (uint32_t i = 0; i < ev.size(); ++i) {
    const RecordedEvent& e = ev[i];
    const uint32_t d = depth[i];
    edges.push_back(MakeEdge(offset(e.start_ns), kBegin, d, i));
    edges.push_back(MakeEdge(offset(e.start_ns + e.duration_ns), e.duration_ns ? 0 : 2, d, i));
    if (phased[i]) {  // both parts are never 0 ns long
      const uint64_t c_end = e.start_ns + e.c_ns;
      edges.push_back(MakeEdge(offset(e.start_ns), kBegin, d + 1, i, kInC));
      edges.push_back(MakeEdge(offset(c_end), 0, d + 1, i, kInC));
      edges.push_back(MakeEdge(offset(c_end), kBegin, d + 1, i, kReEntering));
      edges.push_back(MakeEdge(offset(c_end + e.sched_ns), 0, d + 1, i, kReEntering));
    }
  }
  std::sort(edges.begin(), edges.end());
  uint32_t max_func = 0;
  uint32_t max_stack = 0;
  for (const RecordedEvent& e : ev) {
    max_func = std::max(max_func, e.func);
    max_stack = std::max(max_stack, e.stack);
  }
  name_sent_.assign(uint64_t{max_func} + 1, false);
  phase_iid_ = uint64_t{max_func} + 2;  // after every function's (func + 1)
  stack_sent_.assign(uint64_t{max_stack} + 1, false);
  uint64_t last = 0;
  for (const Edge& edge : edges) {
    const uint64_t delta = edge.ts_offset() - last;
    last = edge.ts_offset();
    if (edge.cls() == kBegin && edge.part != kEvent) {
      BeginPhase(delta, edge.event, edge.part);
    } else if (edge.cls() == kBegin) {
      Begin(delta, edge.event);
    } else {
      End(delta, edge.event);
    }
  }
  return std::move(out_);
}

}  // namespace

std::string FormatPerfettoTrace(const LoadedRecording& recording) {
  return Writer(recording).Run();
}

}  // namespace cgotrace
