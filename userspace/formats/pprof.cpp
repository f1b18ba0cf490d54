// PprofBuilder: profile.proto messages from mappings, locations and samples,
// serialized and gzipped.
#include "formats/pprof.h"

#include <zlib.h>

#include <algorithm>
#include <map>
#include <unordered_map>

#include "pprof.pb.h"

namespace cgotrace {

struct PprofBuilder::Impl {
  pprof::Profile profile;
  std::unordered_map<std::string, int64_t> strings;
  std::map<std::pair<std::string, std::string>, uint64_t> mappings;
  // Per mapping, the PC range its locations cover (memory_start/limit).
  std::vector<std::pair<uint64_t, uint64_t>> mapping_ranges;
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> pc_locations;
  std::map<std::pair<uint64_t, int64_t>, uint64_t> named_locations;  // (mapping, name)
  std::map<std::pair<int64_t, int64_t>, uint64_t> functions;         // (name, file)
  std::map<std::pair<std::vector<uint64_t>, std::vector<std::pair<int64_t, int64_t>>>, size_t>
      sample_ids;
  std::vector<std::vector<int64_t>> values;  // per sample
  size_t types = 0;

  uint64_t Function(int64_t name, int64_t file) {
    auto [it, inserted] = functions.try_emplace({name, file}, functions.size() + 1);
    if (inserted) {
      pprof::Function* f = profile.add_function();
      f->set_id(it->second);
      f->set_name(name);
      f->set_system_name(name);
      f->set_filename(file);
    }
    return it->second;
  }

  pprof::Location* NewLocation(uint64_t id, uint64_t mapping) {
    pprof::Location* l = profile.add_location();
    l->set_id(id);
    l->set_mapping_id(mapping);
    return l;
  }
};

PprofBuilder::PprofBuilder(std::vector<PprofValueType> sample_types, size_t default_type)
    : impl_(std::make_unique<Impl>()) {
  String("");
  impl_->types = sample_types.size();
  for (const PprofValueType& t : sample_types) {
    pprof::ValueType* v = impl_->profile.add_sample_type();
    v->set_type(String(t.type));
    v->set_unit(String(t.unit));
  }
  if (default_type < sample_types.size()) {
    impl_->profile.set_default_sample_type(String(sample_types[default_type].type));
  }
}

PprofBuilder::~PprofBuilder() = default;

int64_t PprofBuilder::String(std::string_view s) {
  auto [it, inserted] =
      impl_->strings.try_emplace(std::string(s), static_cast<int64_t>(impl_->strings.size()));
  if (inserted) {
    impl_->profile.add_string_table(it->first);
  }
  return it->second;
}

uint64_t PprofBuilder::Mapping(const std::string& path, const std::string& build_id) {
  auto [it, inserted] = impl_->mappings.try_emplace({path, build_id}, impl_->mappings.size() + 1);
  if (inserted) {
    pprof::Mapping* m = impl_->profile.add_mapping();
    m->set_id(it->second);
    m->set_filename(String(path));
    m->set_build_id(String(build_id));
    m->set_has_functions(true);
    m->set_has_filenames(true);
    m->set_has_line_numbers(true);
    impl_->mapping_ranges.emplace_back(UINT64_MAX, 0);
  }
  return it->second;
}

uint64_t PprofBuilder::PcLocation(uint64_t mapping, uint64_t pc, std::string_view function,
                                  std::string_view file, uint32_t line) {
  const uint64_t next = static_cast<uint64_t>(impl_->profile.location_size()) + 1;
  auto [it, inserted] = impl_->pc_locations.try_emplace({mapping, pc}, next);
  if (inserted) {
    pprof::Location* l = impl_->NewLocation(next, mapping);
    l->set_address(pc);
    pprof::Line* ln = l->add_line();
    ln->set_function_id(impl_->Function(String(function), String(file)));
    ln->set_line(line);
    auto& range = impl_->mapping_ranges.at(mapping - 1);
    range.first = std::min(range.first, pc);
    range.second = std::max(range.second, pc + 1);
  }
  return it->second;
}

uint64_t PprofBuilder::NamedLocation(uint64_t mapping, std::string_view function) {
  const int64_t name = String(function);
  const uint64_t next = static_cast<uint64_t>(impl_->profile.location_size()) + 1;
  auto [it, inserted] = impl_->named_locations.try_emplace({mapping, name}, next);
  if (inserted) {
    impl_->NewLocation(next, mapping)->add_line()->set_function_id(impl_->Function(name, 0));
  }
  return it->second;
}

size_t PprofBuilder::Sample(std::vector<uint64_t> locations,
                            const std::vector<PprofLabel>& labels) {
  std::vector<std::pair<int64_t, int64_t>> key_labels;
  key_labels.reserve(labels.size());
  for (const PprofLabel& l : labels) {
    key_labels.emplace_back(l.key, l.value);
  }
  auto [it, inserted] = impl_->sample_ids.try_emplace({std::move(locations), std::move(key_labels)},
                                                      impl_->values.size());
  if (inserted) {
    impl_->values.emplace_back(impl_->types, 0);
  }
  return it->second;
}

void PprofBuilder::Add(size_t sample, std::span<const int64_t> values) {
  std::vector<int64_t>& v = impl_->values.at(sample);
  for (size_t i = 0; i < v.size() && i < values.size(); ++i) {
    v[i] += values[i];
  }
}

void PprofBuilder::SetTime(int64_t time_nanos, int64_t duration_nanos) {
  impl_->profile.set_time_nanos(time_nanos);
  impl_->profile.set_duration_nanos(duration_nanos);
}

void PprofBuilder::SetPeriod(const PprofValueType& type, int64_t period) {
  impl_->profile.mutable_period_type()->set_type(String(type.type));
  impl_->profile.mutable_period_type()->set_unit(String(type.unit));
  impl_->profile.set_period(period);
}

void PprofBuilder::AddComment(std::string_view comment) {
  impl_->profile.add_comment(String(comment));
}

size_t PprofBuilder::samples() const { return impl_->values.size(); }

Result<std::string> PprofBuilder::Finish() {
  pprof::Profile& p = impl_->profile;
  for (int i = 0; i < p.mapping_size(); ++i) {
    const auto& range = impl_->mapping_ranges[static_cast<size_t>(i)];
    if (range.first < range.second) {
      p.mutable_mapping(i)->set_memory_start(range.first);
      p.mutable_mapping(i)->set_memory_limit(range.second);
    }
  }
  // Samples in first-seen order, so the same input gives the same file.
  std::vector<const std::pair<
      const std::pair<std::vector<uint64_t>, std::vector<std::pair<int64_t, int64_t>>>, size_t>*>
      ordered(impl_->values.size());
  for (const auto& entry : impl_->sample_ids) {
    ordered[entry.second] = &entry;
  }
  p.clear_sample();
  for (const auto* entry : ordered) {
    pprof::Sample* s = p.add_sample();
    for (uint64_t loc : entry->first.first) {
      s->add_location_id(loc);
    }
    for (int64_t v : impl_->values[entry->second]) {
      s->add_value(v);
    }
    for (const auto& [key, value] : entry->first.second) {
      pprof::Label* l = s->add_label();
      l->set_key(key);
      l->set_str(value);
    }
  }
  std::string bytes;
  if (!p.SerializeToString(&bytes)) {
    return MakeError("pprof: the profile does not serialize (over 2 GiB?)");
  }
  return Gzip(bytes);
}

Result<std::string> Gzip(std::string_view bytes) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return MakeError("gzip: deflateInit2 failed");
  }
  std::string out(deflateBound(&z, bytes.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  const size_t written = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) {
    return MakeError("gzip: deflate failed ({})", rc);
  }
  out.resize(written);
  return out;
}

}  // namespace cgotrace
