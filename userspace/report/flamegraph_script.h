// The JavaScript embedded in flame graph SVGs (see flamegraph.h).
#pragma once

namespace cgotrace {

extern const char kFlameGraphScript[];

}  // namespace cgotrace
