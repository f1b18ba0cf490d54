// TargetProcess: what sampling reads about one live Go process besides its
// threads: where its executable is loaded, and runtime globals (thread limit,
// goroutine count) read from its memory through /proc/PID/mem.
//
// Reads /proc afresh on every call; no caching. The globals need the
// binary's .symtab (runtime.sched, runtime.allglen): for stripped binaries
// they are std::nullopt, and the caller says "unknown". Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "binary/go_binary.h"
#include "cgotrace/result.h"

namespace cgotrace {

// Runtime address minus link-time address of the executable's code (0 unless
// PIE), from /proc/PID/maps. Error names the PID if the executable is not
// mapped.
Result<uint64_t> ExecutableLoadBias(pid_t pid, const ElfFile& exe);

// Threads of the process (/proc/PID/status Threads:); 0 if it is gone.
uint32_t ProcessThreadCount(pid_t pid);

// Offset of runtime.schedt.maxmcount from the binary's DWARF, if it has any.
std::optional<uint32_t> SchedMaxmcountOffset(const std::string& path);
// debug.SetMaxThreads' value in force (runtime.sched.maxmcount).
std::optional<int64_t> ReadThreadLimit(pid_t pid, const GoBinary& binary, uint64_t bias);
// Goroutines ever allocated and not freed (runtime.allglen): an upper bound
// of live goroutines, which is what runtime.NumGoroutine() counts down from.
std::optional<int64_t> ReadGoroutineCount(pid_t pid, const GoBinary& binary, uint64_t bias);

}  // namespace cgotrace
