// Pieces shared by the recording writer and reader: the file framing
// (magic, varints) and the conversion of the header and trailer between
// their C++ structs and protobuf messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "cgotrace.pb.h"
#include "cgotrace/recording.h"

namespace cgotrace::recording {

inline constexpr size_t kMagicSize = 8;
// A larger record length can only come from a corrupt file: the biggest
// legitimate record is a batch of kMaxBatchEvents events.
inline constexpr uint64_t kMaxRecordBytes = 256u << 20;
inline constexpr uint32_t kMaxBatchEvents = 1u << 20;

void AppendVarint(uint64_t value, std::string* out);

v1::Header ToProto(const RecordingHeader& header);
RecordingHeader FromProto(const v1::Header& header);
v1::Trailer ToProto(const RecordingTrailer& trailer);
RecordingTrailer FromProto(const v1::Trailer& trailer);

}  // namespace cgotrace::recording
