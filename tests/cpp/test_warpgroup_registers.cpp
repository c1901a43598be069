// The setmaxnreg register splits of the GEMM and attention kernels (runs in CI, no GPU).
#include <gtest/gtest.h>

#include "../../csrc/common/warpgroup_registers.h"

// The kernels' setmaxnreg splits must stay within the CTA's launch allocation. Session 16's
// GEMM candidate asked for 48 + 2 x 232 registers per thread: 65,536, inside the register file but
// 1,024 over the 64,512 that 384 threads receive at 168 each, and it hung when session 17 ran it.
TEST(RegisterSplit, BoundedByTheLaunchAllocation) {
  using triageattention::register_split_fits;
  EXPECT_TRUE(register_split_fits(384, 40, 2, 232));   // GEMM bs 64/128: 64,512
  EXPECT_TRUE(register_split_fits(384, 56, 2, 224));   // GEMM bs 16/32, attention q tile 128
  EXPECT_TRUE(register_split_fits(384, 48, 2, 224));
  EXPECT_FALSE(register_split_fits(384, 48, 2, 232));  // 65,536: the hang
  EXPECT_FALSE(register_split_fits(384, 24, 2, 248));
  EXPECT_TRUE(register_split_fits(256, 56, 1, 224));   // attention q tile 64
  EXPECT_TRUE(register_split_fits(512, 32, 3, 160));   // 128 at launch: all 65,536 usable
  EXPECT_FALSE(register_split_fits(512, 40, 3, 160));
}
