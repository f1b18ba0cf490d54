// EventDecoder on hand-made cgt_event records and real fixture binaries: what
// the tracer delivers for a ring-buffer record, without BPF or root.
#include "trace/event_decoder.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "binary/go_binary.h"
#include "binary_fixture_util.h"
#include "cgotrace_abi.h"

namespace cgotrace {
namespace {

using test::FixturePath;

std::unique_ptr<GoBinary> Load(const std::string& name) {
  auto bin = GoBinary::Analyze(FixturePath(name));
  EXPECT_TRUE(bin.ok()) << bin.error().message;
  return bin.ok() ? std::move(*bin) : nullptr;
}

uint64_t SymbolEndingWith(const ElfFile& elf, const std::string& suffix) {
  for (const ElfSymbol& s : elf.symbols()) {
    if (s.name.ends_with(suffix)) {
      return s.value;
    }
  }
  ADD_FAILURE() << "no symbol ending with " << suffix << " in " << elf.path();
  return 0;
}

uint64_t GoFuncEntry(const GoBinary& bin, const std::string& name) {
  auto all = bin.pclntab().FindAll(name);
  if (all.empty()) {
    ADD_FAILURE() << "no " << name << " in pclntab";
    return 0;
  }
  return all.front()->entry;
}

std::vector<uint8_t> Bytes(const cgt_event& ev) {
  std::vector<uint8_t> out(sizeof(ev));
  memcpy(out.data(), &ev, sizeof(ev));
  return out;
}

cgt_event BaseEvent() {
  cgt_event ev{};
  ev.start_ns = 1000;
  ev.duration_ns = 2500;
  ev.goid = 17;
  ev.pid = 4242;
  ev.tid = 4247;
  ev.stack_depth = 1152;
  ev.binary = 0;
  ev.kind = CGT_EV_CALL;
  ev.stack_id = CGT_NO_STACK;
  return ev;
}

EventDecoder NoStacks() {
  return EventDecoder([](uint32_t id) -> std::vector<uint64_t> {
    ADD_FAILURE() << "stack " << id << " looked up";
    return {};
  });
}

TEST(EventDecoderTest, CallNamedByTrampolineSymbol) {
  auto bin = Load("cgocalls");
  ASSERT_NE(bin, nullptr);
  EventDecoder dec = NoStacks();
  dec.SetBinary(0, bin.get(), "cgocalls");
  cgt_event raw = BaseEvent();
  raw.fn = SymbolEndingWith(bin->elf(), "_Cfunc_fast_add");
  auto ev = dec.Decode(Bytes(raw));
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->kind, EventKind::kCall);
  EXPECT_EQ(ev->func, "fast_add");
  EXPECT_EQ(ev->comm, "cgocalls");
  EXPECT_EQ(ev->binary_path, FixturePath("cgocalls"));
  EXPECT_EQ(ev->pid, 4242u);
  EXPECT_EQ(ev->tid, 4247u);
  EXPECT_EQ(ev->goid, 17u);
  EXPECT_EQ(ev->start_ns, 1000u);
  EXPECT_EQ(ev->duration_ns, 2500u);
  EXPECT_EQ(ev->stack_depth, 1152u);
  EXPECT_TRUE(ev->stack.empty());
}

TEST(EventDecoderTest, StrippedCallNamedByCallerPc) {
  auto bin = Load("cgocalls-stripped");
  ASSERT_NE(bin, nullptr);
  EventDecoder dec = NoStacks();
  dec.SetBinary(0, bin.get(), "cgocalls-stripped");
  cgt_event raw = BaseEvent();
  raw.fn = 0x1234;  // a trampoline no symbol names
  raw.caller_pc = GoFuncEntry(*bin, "main._Cfunc_sleep_us") + 8;
  auto ev = dec.Decode(Bytes(raw));
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->func, "sleep_us");
}

TEST(EventDecoderTest, CallbackNamedByExportedFunction) {
  auto bin = Load("cgocalls");
  ASSERT_NE(bin, nullptr);
  EventDecoder dec = NoStacks();
  dec.SetBinary(0, bin.get(), "cgocalls");
  cgt_event raw = BaseEvent();
  raw.kind = CGT_EV_CALLBACK;
  raw.fn = 0;
  for (const GoFunc& f : bin->pclntab().funcs()) {
    if (f.name.find("_cgoexp_") != std::string::npos && f.name.ends_with("_goCallback")) {
      raw.fn = f.entry;
    }
  }
  ASSERT_NE(raw.fn, 0u);
  auto ev = dec.Decode(Bytes(raw));
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->kind, EventKind::kCallback);
  EXPECT_EQ(ev->func, "goCallback");
}

TEST(EventDecoderTest, StackFramesLoseFrameZeroAndThePieBias) {
  auto bin = Load("cgocalls-pie");
  ASSERT_NE(bin, nullptr);
  const uint64_t bias = 0x5555'0000'0000ULL;
  const uint64_t caller = GoFuncEntry(*bin, "main._Cfunc_fast_add");
  const uint64_t main_main = GoFuncEntry(*bin, "main.main");
  int lookups = 0;
  EventDecoder dec([&](uint32_t id) {
    ++lookups;
    EXPECT_EQ(id, 7u);
    std::vector<uint64_t> ips(CGT_STACK_DEPTH, 0);
    ips[0] = bias + GoFuncEntry(*bin, "runtime.cgocall");  // the probed function
    ips[1] = bias + caller + 4;
    ips[2] = bias + main_main + 16;
    return ips;
  });
  dec.SetBinary(0, bin.get(), "cgocalls-pie");
  cgt_event raw = BaseEvent();
  raw.load_bias = bias;
  raw.fn = SymbolEndingWith(bin->elf(), "_Cfunc_fast_add");
  raw.stack_id = 7;
  for (int i = 0; i < 2; ++i) {  // the second decode hits the cache
    auto ev = dec.Decode(Bytes(raw));
    ASSERT_TRUE(ev.has_value());
    EXPECT_EQ(ev->func, "fast_add");
    ASSERT_EQ(ev->stack.size(), 2u);
    EXPECT_EQ(ev->stack[0], caller + 4);
    EXPECT_EQ(ev->stack[1], main_main + 16);
    ASSERT_EQ(ev->frames.size(), 2u);
    EXPECT_EQ(ev->frames[0], "main._Cfunc_fast_add");
    EXPECT_EQ(ev->frames[1], "main.main");
  }
  EXPECT_EQ(lookups, 1);
}

TEST(EventDecoderTest, ShortRecordsAndUnknownBinariesAreDropped) {
  auto bin = Load("cgocalls");
  ASSERT_NE(bin, nullptr);
  EventDecoder dec = NoStacks();
  dec.SetBinary(1, bin.get(), "cgocalls");
  cgt_event raw = BaseEvent();
  std::vector<uint8_t> bytes = Bytes(raw);
  EXPECT_FALSE(dec.Decode(bytes).has_value()) << "binary 0 was never set";
  raw.binary = 5;
  EXPECT_FALSE(dec.Decode(Bytes(raw)).has_value());
  raw.binary = 1;
  bytes = Bytes(raw);
  const uint8_t last = bytes.back();
  bytes.pop_back();
  EXPECT_FALSE(dec.Decode(bytes).has_value());
  bytes.push_back(last);
  EXPECT_TRUE(dec.Decode(bytes).has_value());
}

}  // namespace
}  // namespace cgotrace
