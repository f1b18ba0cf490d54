// The pprof and Perfetto outputs read back with the project's own
// definitions of both formats (proto/), for the unit tests of the views:
// a gzipped profile decoded with its locations and functions indexed, and a
// Perfetto trace replayed as trace_processor does (incremental timestamps,
// interning, slice stacks per track) into its slices.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "perfetto_trace.pb.h"
#include "pprof.pb.h"

namespace cgotrace::testing {

inline std::string Gunzip(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out;
  char buf[65536];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - z.avail_out);
  }
  EXPECT_EQ(rc, Z_STREAM_END);
  inflateEnd(&z);
  return out;
}

struct DecodedProfile {
  pprof::Profile p;
  std::map<uint64_t, const pprof::Location*> locations;
  std::map<uint64_t, const pprof::Function*> functions;
  const std::string& Str(int64_t i) const { return p.string_table(static_cast<int>(i)); }
  std::string Label(const pprof::Sample& s, const std::string& key) const {
    for (const pprof::Label& l : s.label()) {
      if (Str(l.key()) == key) return Str(l.str());
    }
    return "";
  }
  // Frame names of a sample, outermost first.
  std::vector<std::string> Frames(const pprof::Sample& s) const {
    std::vector<std::string> out;
    for (int i = s.location_id_size(); i-- > 0;) {
      const pprof::Location* loc = locations.at(s.location_id(i));
      EXPECT_EQ(loc->line_size(), 1);
      out.push_back(Str(functions.at(loc->line(0).function_id())->name()));
    }
    return out;
  }
};

inline DecodedProfile Decode(const std::string& gz) {
  DecodedProfile d;
  EXPECT_TRUE(d.p.ParseFromString(Gunzip(gz)));
  for (const pprof::Location& l : d.p.location()) d.locations[l.id()] = &l;
  for (const pprof::Function& f : d.p.function()) d.functions[f.id()] = &f;
  return d;
}

struct Slice {
  uint32_t pid = 0;
  std::string track;
  std::string name;
  uint64_t start = 0, end = 0;
  uint64_t tid = 0;
  std::string stack;
  std::string parent;  // name of the enclosing slice on its track
};

// Replays the packets as trace_processor does: incremental timestamps,
// interning, slice stacks per track.
struct DecodedTrace {
  std::vector<Slice> slices;
  std::map<uint64_t, std::string> track_names;
  std::map<uint64_t, uint32_t> track_pid;
  std::map<uint64_t, std::string> process_names;
  uint32_t unbalanced = 0;
};

inline DecodedTrace DecodeTrace(const std::string& bytes) {
  DecodedTrace out;
  perfetto::Trace trace;
  EXPECT_TRUE(trace.ParseFromString(bytes));
  EXPECT_GT(trace.packet_size(), 0);
  std::map<uint64_t, std::string> names, annotation_names, strings;
  std::map<uint64_t, uint32_t> process_pid;  // process track uuid -> pid
  std::map<uint64_t, std::vector<Slice>> open;
  uint64_t now = 0;
  uint32_t default_clock = 0;
  for (int i = 0; i < trace.packet_size(); ++i) {
    const perfetto::TracePacket& p = trace.packet(i);
    EXPECT_EQ(p.trusted_packet_sequence_id(), 1u);
    if (i == 0) {
      EXPECT_TRUE(p.first_packet_on_sequence());
      EXPECT_EQ(p.sequence_flags(), 1u);
      bool incremental = false;
      for (const auto& c : p.clock_snapshot().clocks()) {
        if (c.clock_id() == 64) {
          incremental = c.is_incremental();
          EXPECT_EQ(c.timestamp(), p.timestamp());
        }
      }
      EXPECT_TRUE(incremental);
      default_clock = p.trace_packet_defaults().timestamp_clock_id();
      EXPECT_EQ(default_clock, 64u);
      now = p.timestamp();
    } else {
      EXPECT_TRUE(p.has_timestamp());
      EXPECT_FALSE(p.has_timestamp_clock_id());
      now += p.timestamp();
    }
    for (const auto& n : p.interned_data().event_names()) names[n.iid()] = n.name();
    for (const auto& n : p.interned_data().debug_annotation_names()) {
      annotation_names[n.iid()] = n.name();
    }
    for (const auto& s : p.interned_data().debug_annotation_string_values()) {
      strings[s.iid()] = s.str();
    }
    if (p.has_track_descriptor()) {
      const perfetto::TrackDescriptor& d = p.track_descriptor();
      if (d.has_process()) {
        process_pid[d.uuid()] = static_cast<uint32_t>(d.process().pid());
        out.process_names[d.uuid()] = d.process().process_name();
      } else {
        EXPECT_TRUE(process_pid.count(d.parent_uuid())) << d.name();
        out.track_names[d.uuid()] = d.name();
        out.track_pid[d.uuid()] = process_pid[d.parent_uuid()];
      }
    }
    if (!p.has_track_event()) continue;
    const perfetto::TrackEvent& te = p.track_event();
    EXPECT_EQ(p.sequence_flags(), 2u);
    EXPECT_TRUE(out.track_names.count(te.track_uuid())) << te.track_uuid();
    std::vector<Slice>& stack = open[te.track_uuid()];
    if (te.type() == perfetto::TrackEvent::TYPE_SLICE_BEGIN) {
      Slice s;
      s.pid = out.track_pid[te.track_uuid()];
      s.track = out.track_names[te.track_uuid()];
      EXPECT_TRUE(names.count(te.name_iid())) << te.name_iid();
      s.name = names[te.name_iid()];
      s.start = now;
      s.parent = stack.empty() ? "" : stack.back().name;
      for (const auto& a : te.debug_annotations()) {
        const std::string& an = annotation_names[a.name_iid()];
        if (an == "tid") s.tid = a.uint_value();
        if (an == "stack") s.stack = strings[a.string_value_iid()];
      }
      stack.push_back(s);
    } else if (te.type() == perfetto::TrackEvent::TYPE_SLICE_END) {
      if (stack.empty()) {
        ++out.unbalanced;
        continue;
      }
      Slice s = stack.back();
      stack.pop_back();
      s.end = now;
      out.slices.push_back(s);
    }
  }
  for (const auto& [uuid, stack] : open) out.unbalanced += static_cast<uint32_t>(stack.size());
  return out;
}

}  // namespace cgotrace::testing
