// The BPF ABI is shared by clang -target bpf and g++: sizes and offsets are
// checked by the header's own static assertions (both compilers see them);
// here the cookie must round-trip every field.
#include <gtest/gtest.h>

#include <cstddef>

#include "cgotrace_abi.h"

namespace {

TEST(BpfAbiTest, CookieRoundTripsSiteBinaryAndAddress) {
  const cgt_u64 vaddr = 0x7fff'1234'5678ULL;
  const cgt_u64 cookie = CGT_COOKIE(vaddr, CGT_MAX_BINARIES - 1, CGT_MAX_SITE_SLOTS - 1);
  EXPECT_EQ(CGT_COOKIE_VADDR(cookie), vaddr);
  EXPECT_EQ(CGT_COOKIE_BINARY(cookie), CGT_MAX_BINARIES - 1u);
  EXPECT_EQ(CGT_COOKIE_SLOT(cookie), CGT_MAX_SITE_SLOTS - 1u);
  EXPECT_EQ(CGT_COOKIE_VADDR(CGT_COOKIE(CGT_MAX_VADDR, 0, 0)), CGT_MAX_VADDR);
}

TEST(BpfAbiTest, SiteKeysAreDistinctPerBinaryAndSlot) {
  EXPECT_EQ(CGT_SITE_KEY(0, CGT_MAX_SITE_SLOTS - 1) + 1, CGT_SITE_KEY(1, 0));
  EXPECT_EQ(CGT_SITE_KEY(CGT_MAX_BINARIES - 1, CGT_MAX_SITE_SLOTS - 1) + 1,
            static_cast<cgt_u32>(CGT_MAX_SITES));
}

}  // namespace
