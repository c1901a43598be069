#include "harness/timing.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "harness/check.h"

namespace triageattention::bench {
namespace {

// The head start never exceeds this: a slow warm-up enqueue (first-launch module loading) must
// not turn into seconds of idle GPU.
constexpr double kMaxHeadStartMs = 200.0;
// Margin over the measured host enqueue time, so the GPU is still spinning when the host is done.
constexpr double kHeadStartMargin = 1.5;

// Holds the stream for `ns` nanoseconds of wall time. %globaltimer counts real time, so no clock
// calibration is needed.
__global__ void spin_kernel(unsigned long long ns) {
  unsigned long long start = 0, now = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}

// Reads n 16-byte words. The store, never taken on the zeroed flush buffer, keeps the loads alive.
__global__ void read_kernel(const uint4* __restrict__ words, std::size_t n, unsigned* sink) {
  unsigned any = 0;
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const uint4 w = words[i];
    any |= w.x | w.y | w.z | w.w;
  }
  if (any != 0) *sink = any;
}

class EventArray {
 public:
  explicit EventArray(int n) : events_(n, nullptr) {
    for (cudaEvent_t& e : events_) BENCH_CUDA_CHECK(cudaEventCreate(&e));
  }
  ~EventArray() {
    for (cudaEvent_t e : events_)
      if (e != nullptr) cudaEventDestroy(e);
  }
  EventArray(const EventArray&) = delete;
  EventArray& operator=(const EventArray&) = delete;
  cudaEvent_t operator[](int i) const { return events_[i]; }

 private:
  std::vector<cudaEvent_t> events_;
};

double percentile(const std::vector<double>& sorted, double q) {
  const double pos = q * double(sorted.size() - 1);
  const std::size_t lo = std::size_t(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - double(lo));
}

}  // namespace

Timing summarize(std::vector<double> samples_ms) {
  Timing t;
  if (samples_ms.empty()) return t;
  std::sort(samples_ms.begin(), samples_ms.end());
  t.runs = int(samples_ms.size());
  t.min_ms = samples_ms.front();
  t.max_ms = samples_ms.back();
  t.median_ms = percentile(samples_ms, 0.5);
  t.p10_ms = percentile(samples_ms, 0.1);
  t.p90_ms = percentile(samples_ms, 0.9);
  t.spread = t.median_ms > 0 ? (t.p90_ms - t.p10_ms) / t.median_ms : 0;
  return t;
}

Timer::Timer(cudaStream_t stream) : stream_(stream) {
  int device = 0;
  BENCH_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  BENCH_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  l2_bytes_ = std::size_t(prop.l2CacheSize);
  // Twice the L2: with any replacement policy, every line cached before the flush is evicted.
  flush_bytes_ = std::max<std::size_t>(2 * l2_bytes_, std::size_t(1) << 20);
  BENCH_CUDA_CHECK(cudaMalloc(&flush_buffer_, flush_bytes_));
  BENCH_CUDA_CHECK(cudaMemsetAsync(flush_buffer_, 0, flush_bytes_, stream_));
  BENCH_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device));
}

Timer::~Timer() { cudaFree(flush_buffer_); }

L2Flush parse_l2_flush(const char* text) {
  if (!std::strcmp(text, "read")) return L2Flush::kRead;
  if (!std::strcmp(text, "write")) return L2Flush::kWrite;
  throw std::invalid_argument(std::string("--l2-flush expects read or write, got '") + text + "'");
}

std::string Timer::describe_flush(const TimingOptions& opts) const {
  if (!opts.cold_l2) return "L2 not flushed";
  const char* verb = opts.l2_flush == L2Flush::kRead ? "reading " : "zeroing ";
  return std::string("L2 flushed by ") + verb + std::to_string(flush_bytes_ >> 20) +
         " MiB before every run";
}

void Timer::flush_l2(L2Flush how) {
  if (how == L2Flush::kWrite) {
    BENCH_CUDA_CHECK(cudaMemsetAsync(flush_buffer_, 0, flush_bytes_, stream_));
    return;
  }
  read_kernel<<<8 * sm_count_, 256, 0, stream_>>>(static_cast<const uint4*>(flush_buffer_),
                                                  flush_bytes_ / 16,
                                                  static_cast<unsigned*>(flush_buffer_));
  BENCH_CUDA_CHECK(cudaGetLastError());
}

Timing Timer::measure(const Workload& work, const TimingOptions& opts) {
  if (opts.timed_runs < 1 || opts.warmup_runs < 0)
    throw std::invalid_argument("Timer::measure: need timed_runs >= 1 and warmup_runs >= 0");
  using Clock = std::chrono::steady_clock;

  // Warm-up, also timing how long the host takes to enqueue one run.
  std::vector<double> enqueue_ms;
  for (int i = 0; i < opts.warmup_runs; ++i) {
    const auto t0 = Clock::now();
    if (opts.cold_l2) flush_l2(opts.l2_flush);
    work(stream_, i);
    enqueue_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  BENCH_CUDA_CHECK(cudaGetLastError());
  BENCH_CUDA_CHECK(cudaStreamSynchronize(stream_));

  const int n = opts.timed_runs;
  EventArray start(n), stop(n);
  if (!enqueue_ms.empty()) {
    // The median ignores the first run's one-off module loading.
    std::nth_element(enqueue_ms.begin(), enqueue_ms.begin() + enqueue_ms.size() / 2,
                     enqueue_ms.end());
    const double head_start_ms =
        std::min(kMaxHeadStartMs, enqueue_ms[enqueue_ms.size() / 2] * n * kHeadStartMargin);
    spin_kernel<<<1, 1, 0, stream_>>>((unsigned long long)(head_start_ms * 1e6));
    BENCH_CUDA_CHECK(cudaGetLastError());
  }
  for (int i = 0; i < n; ++i) {
    if (opts.cold_l2) flush_l2(opts.l2_flush);
    BENCH_CUDA_CHECK(cudaEventRecord(start[i], stream_));
    work(stream_, opts.warmup_runs + i);
    BENCH_CUDA_CHECK(cudaEventRecord(stop[i], stream_));
  }
  BENCH_CUDA_CHECK(cudaGetLastError());
  BENCH_CUDA_CHECK(cudaEventSynchronize(stop[n - 1]));

  std::vector<double> samples(n);
  for (int i = 0; i < n; ++i) {
    float ms = 0;
    BENCH_CUDA_CHECK(cudaEventElapsedTime(&ms, start[i], stop[i]));
    samples[i] = ms;
  }
  return summarize(std::move(samples));
}

}  // namespace triageattention::bench
