// The register split between a kernel's producer and consumer warpgroups (setmaxnreg).
#pragma once

namespace triageattention {

// setmaxnreg only moves registers between the warpgroups of a CTA, within what the CTA received
// at launch: `threads` x the per-thread count ptxas gives a one-CTA-per-SM kernel (64K registers /
// threads, in steps of 8: 168 at 384 threads, so 64,512 and not 65,536). A split that asks for
// more makes setmaxnreg.inc wait forever and the kernel hangs, so the traits check it at compile
// time.
constexpr bool register_split_fits(int threads, int producer_registers, int consumer_warpgroups,
                                   int consumer_registers) {
  const int per_thread_at_launch = 65536 / threads / 8 * 8;
  return 128 * (producer_registers + consumer_warpgroups * consumer_registers) <=
         per_thread_at_launch * threads;
}

}  // namespace triageattention
