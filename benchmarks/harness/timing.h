// GPU timing shared by every C++ benchmark: cold L2, warm-up, CUDA events around the measured work
// only, many timed runs summarized by their median and spread.
//
// Per timed run the stream sees: [L2 flush] [start event] [work] [stop event]. The flush reads a
// buffer twice the size of the L2 cache, so no input of the previous run is still cached and the
// L2 holds only clean lines; it lies outside the events and is not timed. Before the timed runs
// a spin kernel holds the GPU for roughly the time the host needs to enqueue them all, so the
// queue is full when the GPU starts and host launch latency never falls between a start and a
// stop event.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace triageattention::bench {

// kRead reads the flush buffer; kWrite zeroes it, the method before session 24, which leaves up to
// an L2 of dirty lines whose write-back falls inside the next timed run (about 50 MB on an H100).
enum class L2Flush { kRead, kWrite };

// "read" or "write" -> L2Flush; throws std::invalid_argument naming the flag otherwise.
L2Flush parse_l2_flush(const char* text);

struct TimingOptions {
  int warmup_runs = 5;
  int timed_runs = 50;
  bool cold_l2 = true;  // flush L2 before every run (warm-up included)
  L2Flush l2_flush = L2Flush::kRead;
};

struct Timing {
  int runs = 0;  // 0: not measured
  double median_ms = 0, min_ms = 0, max_ms = 0, p10_ms = 0, p90_ms = 0;
  double spread = 0;  // (p90 - p10) / median
};

// Percentiles by linear interpolation between order statistics (numpy's default), so the C++ and
// Python harnesses report the same numbers for the same samples.
Timing summarize(std::vector<double> samples_ms);

// Enqueues one run of the measured work on `stream`. `run` counts warm-up and timed runs from 0,
// so a caller holding several input sets can rotate through them with `run % sets`.
using Workload = std::function<void(cudaStream_t stream, int run)>;

class Timer {
 public:
  // Sizes the flush buffer from cudaDeviceProp::l2CacheSize of the current device.
  explicit Timer(cudaStream_t stream);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Runs `work` opts.warmup_runs + opts.timed_runs times and summarizes the timed ones.
  // Synchronizes the stream; throws std::runtime_error on any CUDA error.
  Timing measure(const Workload& work, const TimingOptions& opts);

  std::size_t l2_bytes() const { return l2_bytes_; }
  // "L2 flushed by reading 100 MiB before every run", for a report's timing line.
  std::string describe_flush(const TimingOptions& opts) const;

 private:
  void flush_l2(L2Flush how);

  cudaStream_t stream_;
  std::size_t l2_bytes_ = 0;
  void* flush_buffer_ = nullptr;
  std::size_t flush_bytes_ = 0;
  int sm_count_ = 0;
};

}  // namespace triageattention::bench
