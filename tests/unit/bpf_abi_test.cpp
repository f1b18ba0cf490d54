// The BPF ABI is shared by clang -target bpf and g++: sizes and offsets must
// agree, and the cookie must round-trip every field.
#include <gtest/gtest.h>

#include <cstddef>

#include "cgotrace_abi.h"

namespace {

static_assert(sizeof(cgt_event) == 72, "cgt_event layout changed: update BPF and docs");
static_assert(offsetof(cgt_event, load_bias) == 40);
static_assert(offsetof(cgt_event, pid) == 48);
static_assert(offsetof(cgt_event, stack_id) == 68);
static_assert(sizeof(cgt_inflight_key) == 24);
static_assert(sizeof(cgt_inflight) == 40);
static_assert(sizeof(cgt_binary_config) == 16);

TEST(BpfAbiTest, CookieRoundTripsSiteBinaryAndAddress) {
  const cgt_u64 vaddr = 0x7fff'1234'5678ULL;
  const cgt_u64 cookie = CGT_COOKIE(vaddr, CGT_MAX_BINARIES - 1, CGT_SITE_CB_RET);
  EXPECT_EQ(CGT_COOKIE_VADDR(cookie), vaddr);
  EXPECT_EQ(CGT_COOKIE_BINARY(cookie), CGT_MAX_BINARIES - 1u);
  EXPECT_EQ(CGT_COOKIE_SITE(cookie), static_cast<cgt_u32>(CGT_SITE_CB_RET));
  EXPECT_EQ(CGT_COOKIE_VADDR(CGT_COOKIE(CGT_MAX_VADDR, 0, 0)), CGT_MAX_VADDR);
}

TEST(BpfAbiTest, BinaryIndexFitsTheCookie) { EXPECT_LE(CGT_MAX_BINARIES, 256); }

}  // namespace
