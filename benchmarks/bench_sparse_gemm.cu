// BSR GEMM benchmark: C = A_bsr @ B with TriageAttention's kernels beside cuBLAS (dense on the
// densified A, and the compacted problem of the same useful FLOPs) and cuSPARSE Blocked-ELL, all
// measured in one run with the shared harness. Usage, columns and method: docs/BENCHMARKING.md.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <cusparse.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <numeric>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "harness/check.h"
#include "harness/report.h"
#include "harness/sha256.h"
#include "harness/timing.h"
#include "triageattention/sparse_gemm.h"

namespace {

namespace ta = triageattention;
namespace bench = triageattention::bench;

constexpr const char* kSuite = "sparse_gemm";
// Block sizes up to this one are bound by re-reading B: report the B-read rate beside TFLOP/s.
constexpr int kMaxBReadBoundBlock = 32;

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

struct Options {
  int64_t m = 8192, n = 8192, k = 8192;
  std::vector<int> block_sizes{16, 32, 64, 128};
  std::vector<double> densities{0.125, 0.5};
  bool fp16 = false;
  bench::TimingOptions timing;
  std::string json_path;
  uint64_t seed = 20261125;
};

constexpr const char* kUsage =
    "usage: bench_sparse_gemm [--m M] [--n N] [--k K] [--bs 16,32,64,128] [--density 0.125,0.5]\n"
    "                         [--dtype bf16|fp16] [--runs R] [--warmup W] [--seed S]\n"
    "                         [--json PATH] [--l2-flush read|write] [--quick]\n"
    "  Times C = A_bsr @ B (A: M x K with exactly topk = density * K / bs random blocks per\n"
    "  block-row; B: K x N row-major) for every (bs, density) pair, beside cuBLAS and cuSPARSE.\n"
    "  --quick: M = N = K = 4096, density 0.125, 10 runs, 2 warm-up (explicit flags win).\n";

[[noreturn]] void usage_error(const std::string& message) {
  throw std::invalid_argument(message + "\n" + kUsage);
}

int64_t parse_int(const std::string& flag, const std::string& text, int64_t lo, int64_t hi) {
  std::size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || v < lo || v > hi)
    usage_error(flag + " expects an integer in [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "], got '" + text + "'");
  return v;
}

double parse_density(const std::string& text) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !(v > 0 && v <= 1))
    usage_error("--density expects values in (0, 1], got '" + text + "'");
  return v;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) parts.push_back(part);
  return parts;
}

Options parse_options(int argc, char** argv) {
  Options opt;
  std::vector<std::string> args(argv + 1, argv + argc);
  // --quick only changes defaults, so flags given beside it still apply.
  if (std::find(args.begin(), args.end(), "--quick") != args.end()) {
    opt.m = opt.n = opt.k = 4096;
    opt.densities = {0.125};
    opt.timing.timed_runs = 10;
    opt.timing.warmup_runs = 2;
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "--quick") continue;
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (i + 1 >= args.size()) usage_error("missing value after " + flag);
    const std::string& value = args[++i];
    if (flag == "--m") opt.m = parse_int(flag, value, 1, INT_MAX);
    else if (flag == "--n") opt.n = parse_int(flag, value, 1, INT_MAX);
    else if (flag == "--k") opt.k = parse_int(flag, value, 1, INT_MAX);
    else if (flag == "--runs") opt.timing.timed_runs = int(parse_int(flag, value, 1, 100000));
    else if (flag == "--warmup") opt.timing.warmup_runs = int(parse_int(flag, value, 0, 100000));
    else if (flag == "--seed") opt.seed = uint64_t(parse_int(flag, value, 0, INT64_MAX));
    else if (flag == "--json") opt.json_path = value;
    else if (flag == "--l2-flush") opt.timing.l2_flush = bench::parse_l2_flush(value.c_str());
    else if (flag == "--dtype") {
      if (value != "bf16" && value != "fp16") usage_error("--dtype expects bf16 or fp16");
      opt.fp16 = value == "fp16";
    } else if (flag == "--bs") {
      opt.block_sizes.clear();
      for (const std::string& s : split_commas(value)) {
        const int bs = int(parse_int(flag, s, 16, 128));
        if (bs != 16 && bs != 32 && bs != 64 && bs != 128)
          usage_error("--bs expects block sizes among 16, 32, 64, 128, got " + s);
        opt.block_sizes.push_back(bs);
      }
    } else if (flag == "--density") {
      opt.densities.clear();
      for (const std::string& s : split_commas(value)) opt.densities.push_back(parse_density(s));
    } else {
      usage_error("unknown flag " + flag);
    }
  }
  if (opt.block_sizes.empty() || opt.densities.empty())
    usage_error("--bs and --density need at least one value");
  for (int bs : opt.block_sizes)
    if (opt.m % bs != 0 || opt.k % bs != 0)
      usage_error("M and K must be multiples of every block size (" + std::to_string(bs) + ")");
  if (opt.n % 8 != 0) usage_error("N must be a multiple of 8 (16-byte aligned rows of B and C)");
  return opt;
}

// ---------------------------------------------------------------------------------------------
// Element types
// ---------------------------------------------------------------------------------------------

template <typename T>
struct Element;

template <>
struct Element<__nv_bfloat16> {
  static constexpr ta::DType kDType = ta::DType::kBFloat16;
  static constexpr cudaDataType kCuda = CUDA_R_16BF;
  static constexpr const char* kName = "bf16";
  static constexpr double kTolerance = 2e-2;
};

template <>
struct Element<__half> {
  static constexpr ta::DType kDType = ta::DType::kFloat16;
  static constexpr cudaDataType kCuda = CUDA_R_16F;
  static constexpr const char* kName = "fp16";
  // bf16's 2e-2 scaled by the 8x finer fp16 rounding step.
  static constexpr double kTolerance = 2.5e-3;
};

// ---------------------------------------------------------------------------------------------
// Resources (RAII, so an error thrown mid-case frees everything)
// ---------------------------------------------------------------------------------------------

template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(std::size_t count) : count_(count) {
    if (count > 0) BENCH_CUDA_CHECK(cudaMalloc(&ptr_, count * sizeof(T)));
  }
  ~DeviceArray() { cudaFree(ptr_); }
  DeviceArray(DeviceArray&& other) noexcept { *this = std::move(other); }
  DeviceArray& operator=(DeviceArray&& other) noexcept {
    std::swap(ptr_, other.ptr_);
    std::swap(count_, other.count_);
    return *this;
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* get() const { return ptr_; }
  std::size_t count() const { return count_; }
  std::size_t bytes() const { return count_ * sizeof(T); }

  void upload(const std::vector<T>& host) {
    if (host.size() != count_) throw std::logic_error("DeviceArray::upload: size mismatch");
    BENCH_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), bytes(), cudaMemcpyHostToDevice));
  }

 private:
  T* ptr_ = nullptr;
  std::size_t count_ = 0;
};

class Stream {
 public:
  Stream() { BENCH_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~Stream() { cudaStreamDestroy(stream_); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

class Cublas {
 public:
  explicit Cublas(cudaStream_t stream) {
    BENCH_CUBLAS_CHECK(cublasCreate(&handle_));
    BENCH_CUBLAS_CHECK(cublasSetStream(handle_, stream));
  }
  ~Cublas() { cublasDestroy(handle_); }
  Cublas(const Cublas&) = delete;
  Cublas& operator=(const Cublas&) = delete;
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

class Cusparse {
 public:
  explicit Cusparse(cudaStream_t stream) {
    BENCH_CUSPARSE_CHECK(cusparseCreate(&handle_));
    BENCH_CUSPARSE_CHECK(cusparseSetStream(handle_, stream));
  }
  ~Cusparse() { cusparseDestroy(handle_); }
  Cusparse(const Cusparse&) = delete;
  Cusparse& operator=(const Cusparse&) = delete;
  cusparseHandle_t get() const { return handle_; }

 private:
  cusparseHandle_t handle_ = nullptr;
};

struct SpMatDescr {
  cusparseSpMatDescr_t d = nullptr;
  ~SpMatDescr() {
    if (d != nullptr) cusparseDestroySpMat(d);
  }
};

struct DnMatDescr {
  cusparseDnMatDescr_t d = nullptr;
  ~DnMatDescr() {
    if (d != nullptr) cusparseDestroyDnMat(d);
  }
};

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

// splitmix64: fast, seedable, and identical on every platform (unlike std:: distributions).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  uint64_t below(uint64_t n) { return next() % n; }

 private:
  uint64_t state_;
};

// Exactly topk distinct block columns per block-row, ascending; crow of the same pattern.
struct Pattern {
  int block_size = 0, topk = 0;
  int64_t block_rows = 0, block_cols = 0;
  std::vector<int32_t> cols;  // [block_rows, topk]
  std::vector<int32_t> crow;  // [block_rows + 1]
  int64_t nnzb() const { return block_rows * topk; }
};

Pattern make_pattern(int64_t M, int64_t K, int bs, int topk, Rng& rng) {
  Pattern p;
  p.block_size = bs;
  p.topk = topk;
  p.block_rows = M / bs;
  p.block_cols = K / bs;
  p.cols.resize(std::size_t(p.nnzb()));
  p.crow.resize(std::size_t(p.block_rows + 1));
  std::vector<int32_t> pool(std::size_t(p.block_cols));
  for (int64_t r = 0; r < p.block_rows; ++r) {
    std::iota(pool.begin(), pool.end(), 0);
    // Partial Fisher-Yates: the first topk entries become a uniform random subset.
    for (int j = 0; j < topk; ++j)
      std::swap(pool[j], pool[j + rng.below(uint64_t(p.block_cols - j))]);
    std::sort(pool.begin(), pool.begin() + topk);
    std::copy(pool.begin(), pool.begin() + topk, p.cols.begin() + r * topk);
    p.crow[std::size_t(r)] = int32_t(r * topk);
  }
  p.crow[std::size_t(p.block_rows)] = int32_t(p.nnzb());
  return p;
}

// Magnitudes in [0.25, 1) with random signs: no stored value rounds to zero, so no block is
// secretly empty and power draw matches real weights.
template <typename T>
void fill_nonzero(std::vector<T>& v, Rng& rng) {
  for (T& x : v) {
    const double magnitude = 0.25 + 0.75 * rng.uniform();
    x = T(float(rng.next() & 1 ? magnitude : -magnitude));
  }
}

template <typename T>
void fill_uniform(std::vector<T>& v, Rng& rng) {
  for (T& x : v) x = T(float(2 * rng.uniform() - 1));
}

// Visits every stored element: fn(block-row, slot in row, row in block, column in block, value).
template <typename T, typename Fn>
void for_each_stored(const Pattern& p, const std::vector<T>& values, Fn&& fn) {
  const int bs = p.block_size;
  for (int64_t r = 0; r < p.block_rows; ++r)
    for (int t = 0; t < p.topk; ++t) {
      const T* block = values.data() + (r * p.topk + t) * bs * bs;
      for (int i = 0; i < bs; ++i)
        for (int j = 0; j < bs; ++j) fn(r, t, i, j, block[i * bs + j]);
    }
}

// ---------------------------------------------------------------------------------------------
// Benchmark state shared by all cases
// ---------------------------------------------------------------------------------------------

template <typename T>
struct Bench {
  explicit Bench(const Options& o)
      : opt(o),
        cublas(stream.get()),
        cusparse(stream.get()),
        timer(stream.get()),
        B(std::size_t(o.k * o.n)),
        A_dense(std::size_t(o.m * o.k)),
        C_ours(std::size_t(o.m * o.n)),
        C_peer(std::size_t(o.m * o.n)),
        host_dense(std::size_t(o.m * o.k)) {
    Rng rng(o.seed);
    std::vector<T> host_B(B.count());
    fill_uniform(host_B, rng);
    B.upload(host_B);
  }

  const Options& opt;
  Stream stream;
  Cublas cublas;
  Cusparse cusparse;
  bench::Timer timer;
  bench::Report report;
  bool failed = false;

  DeviceArray<T> B, A_dense, C_ours, C_peer;
  DeviceArray<float> C_reference;     // allocated on first validation
  DeviceArray<uint8_t> spmm_buffer;   // cuSPARSE external buffer, grown as needed, reused
  std::vector<T> host_dense;          // densified A, rebuilt per case
  std::vector<uint8_t> host_scratch;  // download buffer for hashing
};

template <typename T>
std::string hash_device(Bench<T>& b, const void* ptr, std::size_t bytes) {
  BENCH_CUDA_CHECK(cudaStreamSynchronize(b.stream.get()));
  b.host_scratch.resize(bytes);
  BENCH_CUDA_CHECK(cudaMemcpy(b.host_scratch.data(), ptr, bytes, cudaMemcpyDeviceToHost));
  return bench::sha256_hex(b.host_scratch.data(), bytes);
}

// Row-major C[M, N] = A[M, K] @ B[K, N] through column-major cuBLAS: C^T = B^T A^T, where each
// row-major matrix is already its transpose in column-major order.
template <typename T>
void cublas_gemm(Bench<T>& b, const T* A, const T* B, void* C, cudaDataType c_type, int64_t K) {
  const float alpha = 1.f, beta = 0.f;
  BENCH_CUBLAS_CHECK(cublasGemmEx(b.cublas.get(), CUBLAS_OP_N, CUBLAS_OP_N, int(b.opt.n),
                                  int(b.opt.m), int(K), &alpha, B, Element<T>::kCuda,
                                  int(b.opt.n), A, Element<T>::kCuda, int(K), &beta, C, c_type,
                                  int(b.opt.n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

std::string format_sci(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2e", v);
  return text;
}

bench::Row new_row(const std::string& case_name, const std::string& impl) {
  bench::Row row;
  row.suite = kSuite;
  row.case_name = case_name;
  row.impl = impl;
  return row;
}

double tflops(double flops, double ms) { return flops / ms / 1e9; }
double gbytes_per_s(double bytes, double ms) { return bytes / ms / 1e6; }

// One benchmark case: a (block size, density) pair and its inputs on the device.
template <typename T>
struct Case {
  std::string name;
  Pattern pattern;
  int64_t compact_k = 0;  // topk * bs: K of the compacted dense problem
  double useful_flops = 0;
  double b_read_bytes = 0;
  bool validate = false;  // compare our output with cuBLAS on the densified A
  DeviceArray<T> values, ell_values;
  DeviceArray<int32_t> cols, crow;
  std::string fixed_hash;  // output hash of the fixed top-k form, to compare the general form
};

// Max |ours - ref| / max |ref| over C; prints the worst element so a failure can be located.
// Returns false (after printing loudly) if the error exceeds the dtype's tolerance or is NaN.
template <typename T>
bool check_against_reference(Bench<T>& b, const Case<T>& c, const std::string& impl,
                             std::string& note) {
  const std::size_t count = b.C_ours.count();
  std::vector<T> ours(count);
  std::vector<float> ref(count);
  BENCH_CUDA_CHECK(cudaStreamSynchronize(b.stream.get()));
  BENCH_CUDA_CHECK(cudaMemcpy(ours.data(), b.C_ours.get(), b.C_ours.bytes(),
                              cudaMemcpyDeviceToHost));
  BENCH_CUDA_CHECK(cudaMemcpy(ref.data(), b.C_reference.get(), b.C_reference.bytes(),
                              cudaMemcpyDeviceToHost));
  double max_ref = 0, max_err = 0;
  std::size_t worst = 0;
  bool finite = true;
  for (std::size_t i = 0; i < count; ++i) {
    const double o = double(float(ours[i]));
    const double err = std::fabs(o - double(ref[i]));
    if (!std::isfinite(o)) {
      if (finite) worst = i;
      finite = false;
    } else if (finite && err > max_err) {
      max_err = err;
      worst = i;
    }
    max_ref = std::max(max_ref, std::fabs(double(ref[i])));
  }
  const double rel = finite ? max_err / std::max(max_ref, 1e-30) : NAN;
  const bool ok = finite && rel <= Element<T>::kTolerance;
  const int64_t row = int64_t(worst) / b.opt.n, col = int64_t(worst) % b.opt.n;
  std::fprintf(stderr,
               "%s check %s, %s: max|ours - ref| / max|ref| = %.3e (tolerance %.1e); worst at "
               "C[%lld, %lld]: ours %.6g, reference %.6g\n",
               ok ? "ok:" : "\n!!!!! WRONG RESULT !!!!!", c.name.c_str(), impl.c_str(), rel,
               Element<T>::kTolerance, (long long)row, (long long)col, double(float(ours[worst])),
               double(ref[worst]));
  note = ok ? "rel err " + format_sci(rel) + " vs cuBLAS fp32-out"
            : "WRONG RESULT: rel err " + format_sci(rel);
  return ok;
}

// Our two entry points share this: poisoned output, validation, timing, then a second hash that
// must equal the first (bitwise determinism across warm-up, timed runs and cold/warm caches).
template <typename T>
void run_ours(Bench<T>& b, Case<T>& c, const std::string& impl,
              const std::function<void(cudaStream_t)>& enqueue, bool is_fixed_form) {
  bench::Row row = new_row(c.name, impl);
  const int bs = c.pattern.block_size;
  if (!ta::bsr_gemm_is_built(Element<T>::kDType, Element<T>::kDType, bs)) {
    row.notes = std::string("not built: configure with ") + Element<T>::kName +
                " in TRIAGEATTENTION_DTYPES and " + std::to_string(bs) +
                " in TRIAGEATTENTION_BLOCK_SIZES";
    b.report.add(row);
    return;
  }
  std::vector<std::string> notes;
  try {
    // NaN everywhere first (0xFFFF is NaN in bf16 and fp16): an unwritten element cannot pass.
    BENCH_CUDA_CHECK(cudaMemsetAsync(b.C_ours.get(), 0xFF, b.C_ours.bytes(), b.stream.get()));
    enqueue(b.stream.get());
    BENCH_CUDA_CHECK(cudaGetLastError());
    const std::string first_hash = hash_device(b, b.C_ours.get(), b.C_ours.bytes());

    if (c.validate) {
      std::string note;
      if (!check_against_reference(b, c, impl, note)) b.failed = true;
      notes.push_back(note);
    }

    row.timing = b.timer.measure([&](cudaStream_t s, int) { enqueue(s); }, b.opt.timing);
    row.sha256 = hash_device(b, b.C_ours.get(), b.C_ours.bytes());
    if (row.sha256 != first_hash) {
      b.failed = true;
      std::fprintf(stderr,
                   "\n!!!!! MISMATCH !!!!! %s, %s: output differs between runs\n  first run %s\n"
                   "  after timing %s\n\n",
                   c.name.c_str(), impl.c_str(), first_hash.c_str(), row.sha256.c_str());
      notes.push_back("MISMATCH: output not bitwise reproducible");
    }
    if (is_fixed_form) {
      c.fixed_hash = row.sha256;
    } else if (!c.fixed_hash.empty()) {
      notes.push_back(row.sha256 == c.fixed_hash ? "bitwise = top-k form"
                                                 : "differs bitwise from top-k form");
    }
  } catch (const std::invalid_argument& e) {
    // Our API rejected a case the benchmark considers valid: a failure, but the peers still run.
    b.failed = true;
    std::fprintf(stderr, "\n!!!!! %s rejected %s: %s\n\n", impl.c_str(), c.name.c_str(), e.what());
    notes.push_back(std::string("rejected: ") + e.what());
  }

  if (row.timing.runs > 0) {
    row.metrics.push_back({"useful TFLOP/s", tflops(c.useful_flops, row.timing.median_ms)});
    if (bs <= kMaxBReadBoundBlock)
      row.metrics.push_back({"B-read GB/s", gbytes_per_s(c.b_read_bytes, row.timing.median_ms)});
  }
  for (const std::string& n : notes) row.notes += (row.notes.empty() ? "" : "; ") + n;
  b.report.add(row);
}

template <typename T>
void run_cublas_dense(Bench<T>& b, Case<T>& c) {
  bench::Row row = new_row(c.name, "cuBLAS dense (densified A)");
  row.timing = b.timer.measure(
      [&](cudaStream_t, int) {
        cublas_gemm(b, b.A_dense.get(), b.B.get(), b.C_peer.get(), Element<T>::kCuda, b.opt.k);
      },
      b.opt.timing);
  row.sha256 = hash_device(b, b.C_peer.get(), b.C_peer.bytes());
  const double dense_flops = 2.0 * double(b.opt.m) * double(b.opt.n) * double(b.opt.k);
  row.metrics.push_back({"useful TFLOP/s", tflops(c.useful_flops, row.timing.median_ms)});
  row.metrics.push_back({"dense TFLOP/s", tflops(dense_flops, row.timing.median_ms)});
  row.notes = "computes all 2MNK FLOPs, zeros included";
  b.report.add(row);
}

template <typename T>
void run_cublas_compacted(Bench<T>& b, Case<T>& c) {
  bench::Row row = new_row(c.name, "cuBLAS compacted (ceiling)");
  // A's stored blocks laid side by side ([M, topk * bs], the Blocked-ELL values) times the first
  // topk * bs rows of B: the same useful FLOPs as dense work without any gather.
  row.timing = b.timer.measure(
      [&](cudaStream_t, int) {
        cublas_gemm(b, c.ell_values.get(), b.B.get(), b.C_peer.get(), Element<T>::kCuda,
                    c.compact_k);
      },
      b.opt.timing);
  row.sha256 = hash_device(b, b.C_peer.get(), b.C_peer.bytes());
  row.metrics.push_back({"useful TFLOP/s", tflops(c.useful_flops, row.timing.median_ms)});
  row.notes = "dense " + std::to_string(b.opt.m) + "x" + std::to_string(b.opt.n) + "x" +
              std::to_string(c.compact_k) + ", not the same product";
  b.report.add(row);
}

template <typename T>
void run_cusparse(Bench<T>& b, Case<T>& c) {
  bench::Row row = new_row(c.name, "cuSPARSE Blocked-ELL");
  const float alpha = 1.f, beta = 0.f;
  try {
    SpMatDescr A;
    DnMatDescr B, C;
    // Blocked-ELL column indices are [M / bs, ellCols / bs], row-major: exactly our col array.
    BENCH_CUSPARSE_CHECK(cusparseCreateBlockedEll(
        &A.d, b.opt.m, b.opt.k, c.pattern.block_size, c.compact_k, c.cols.get(),
        c.ell_values.get(), CUSPARSE_INDEX_32I, CUSPARSE_INDEX_BASE_ZERO, Element<T>::kCuda));
    BENCH_CUSPARSE_CHECK(cusparseCreateDnMat(&B.d, b.opt.k, b.opt.n, b.opt.n, b.B.get(),
                                             Element<T>::kCuda, CUSPARSE_ORDER_ROW));
    BENCH_CUSPARSE_CHECK(cusparseCreateDnMat(&C.d, b.opt.m, b.opt.n, b.opt.n, b.C_peer.get(),
                                             Element<T>::kCuda, CUSPARSE_ORDER_ROW));
    std::size_t buffer_bytes = 0;
    BENCH_CUSPARSE_CHECK(cusparseSpMM_bufferSize(
        b.cusparse.get(), CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE,
        &alpha, A.d, B.d, &beta, C.d, CUDA_R_32F, CUSPARSE_SPMM_BLOCKED_ELL_ALG1, &buffer_bytes));
    if (buffer_bytes > b.spmm_buffer.bytes()) b.spmm_buffer = DeviceArray<uint8_t>(buffer_bytes);
    auto spmm = [&]() {
      BENCH_CUSPARSE_CHECK(cusparseSpMM(
          b.cusparse.get(), CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE,
          &alpha, A.d, B.d, &beta, C.d, CUDA_R_32F, CUSPARSE_SPMM_BLOCKED_ELL_ALG1,
          b.spmm_buffer.get()));
    };
    spmm();  // a refusal surfaces here, before any timing
    BENCH_CUDA_CHECK(cudaStreamSynchronize(b.stream.get()));
    row.timing = b.timer.measure([&](cudaStream_t, int) { spmm(); }, b.opt.timing);
    row.sha256 = hash_device(b, b.C_peer.get(), b.C_peer.bytes());
    row.metrics.push_back({"useful TFLOP/s", tflops(c.useful_flops, row.timing.median_ms)});
  } catch (const bench::PeerRefused& e) {
    row.timing = bench::Timing{};
    row.notes = std::string("cuSPARSE refused: ") + e.what();
  }
  b.report.add(row);
}

template <typename T>
void run_case(Bench<T>& b, int bs, double density, bool validate, Rng& rng) {
  const Options& opt = b.opt;
  const int64_t block_cols = opt.k / bs;
  const int topk = int(std::clamp<int64_t>(std::llround(density * double(block_cols)), 1,
                                           block_cols));
  Case<T> c;
  c.pattern = make_pattern(opt.m, opt.k, bs, topk, rng);
  c.compact_k = int64_t(topk) * bs;
  const double nnzb = double(c.pattern.nnzb());
  c.useful_flops = 2.0 * bs * bs * double(opt.n) * nnzb;
  c.b_read_bytes = nnzb * bs * double(opt.n) * sizeof(T);
  c.validate = validate;
  char name[160];
  std::snprintf(name, sizeof(name), "M%lld N%lld K%lld bs%d topk %d/%lld (%.1f%%)",
                (long long)opt.m, (long long)opt.n, (long long)opt.k, bs, topk,
                (long long)block_cols, 100.0 * topk / double(block_cols));
  c.name = name;
  std::fprintf(stderr, "case %s\n", c.name.c_str());

  // Stored blocks, the densified A and the Blocked-ELL values ([M, topk * bs] row-major) all
  // hold the same numbers.
  std::vector<T> values(std::size_t(nnzb) * bs * bs);
  fill_nonzero(values, rng);
  std::vector<T> ell(std::size_t(opt.m * c.compact_k));
  std::fill(b.host_dense.begin(), b.host_dense.end(), T(0.f));
  for_each_stored(c.pattern, values, [&](int64_t r, int t, int i, int j, T v) {
    const int64_t row = r * bs + i;
    b.host_dense[std::size_t(row * opt.k + int64_t(c.pattern.cols[r * topk + t]) * bs + j)] = v;
    ell[std::size_t(row * c.compact_k + int64_t(t) * bs + j)] = v;
  });
  c.values = DeviceArray<T>(values.size());
  c.values.upload(values);
  c.ell_values = DeviceArray<T>(ell.size());
  c.ell_values.upload(ell);
  c.cols = DeviceArray<int32_t>(c.pattern.cols.size());
  c.cols.upload(c.pattern.cols);
  c.crow = DeviceArray<int32_t>(c.pattern.crow.size());
  c.crow.upload(c.pattern.crow);
  b.A_dense.upload(b.host_dense);

  const bool built = ta::bsr_gemm_is_built(Element<T>::kDType, Element<T>::kDType, bs);
  if (c.validate && built) {
    if (b.C_reference.count() == 0) b.C_reference = DeviceArray<float>(b.C_ours.count());
    cublas_gemm(b, b.A_dense.get(), b.B.get(), b.C_reference.get(), CUDA_R_32F, opt.k);
  }

  // (a) ours, fixed top-k form. Constructed on first use, inside run_ours: the constructor
  // rejects a configuration this build lacks, and run_ours only calls in when it is built.
  std::optional<ta::SparseBSRGEMM<T>> gemm;
  run_ours(
      b, c, "TriageAttention SparseBSRGEMM (top-k)",
      [&](cudaStream_t s) {
        if (!gemm) gemm.emplace(int(opt.m), int(opt.n), int(opt.k), bs, topk);
        gemm->execute(c.values.get(), c.cols.get(), b.B.get(), b.C_ours.get(), s);
      },
      true);

  // (a) ours, general form with crow (includes its load-balancing row-order pass).
  ta::BsrGemmParams p;
  p.M = opt.m;
  p.N = opt.n;
  p.K = opt.k;
  p.block_size = bs;
  p.crow_indices = c.crow.get();
  p.col_indices = c.cols.get();
  p.index_type = ta::IndexType::kInt32;
  p.nnzb = c.pattern.nnzb();
  p.values = c.values.get();
  p.B = b.B.get();
  p.ldb = opt.n;
  p.C = b.C_ours.get();
  p.ldc = opt.n;
  p.input_type = p.output_type = Element<T>::kDType;
  DeviceArray<uint8_t> workspace(built ? ta::bsr_gemm_workspace_bytes(p) : 0);
  run_ours(
      b, c, "TriageAttention bsr_gemm (crow)",
      [&](cudaStream_t s) { ta::bsr_gemm(p, workspace.get(), workspace.bytes(), s); }, false);

  run_cublas_dense(b, c);
  run_cublas_compacted(b, c);
  run_cusparse(b, c);
}

template <typename T>
void describe_run(Bench<T>& b, int argc, char** argv) {
  int device = 0, runtime = 0, driver = 0, cublas_version = 0, cusparse_version = 0;
  BENCH_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  BENCH_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  BENCH_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  BENCH_CUDA_CHECK(cudaDriverGetVersion(&driver));
  BENCH_CUBLAS_CHECK(cublasGetVersion(b.cublas.get(), &cublas_version));
  BENCH_CUSPARSE_CHECK(cusparseGetVersion(b.cusparse.get(), &cusparse_version));
  int sm_clock_khz = 0;
  BENCH_CUDA_CHECK(cudaDeviceGetAttribute(&sm_clock_khz, cudaDevAttrClockRate, device));

  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  std::ostringstream dev;
  dev << prop.name << " (sm_" << prop.major << prop.minor << ", " << prop.multiProcessorCount
      << " SMs, max SM clock " << sm_clock_khz / 1000 << " MHz, L2 " << (prop.l2CacheSize >> 20)
      << " MiB, " << (prop.totalGlobalMem >> 30) << " GiB)";
  std::ostringstream timing;
  timing << "CUDA events around the work only; " << b.timer.describe_flush(b.opt.timing) << "; "
         << b.opt.timing.warmup_runs << " warm-up + "
         << b.opt.timing.timed_runs << " timed runs; median; spread = (p90 - p10) / median";
  b.report.set_meta("command", command);
  b.report.set_meta("device", dev.str());
  b.report.set_meta("CUDA runtime / driver / cuBLAS / cuSPARSE",
                    std::to_string(runtime) + " / " + std::to_string(driver) + " / " +
                        std::to_string(cublas_version) + " / " +
                        std::to_string(cusparse_version));
  b.report.set_meta("dtype", std::string(Element<T>::kName) + " in and out, fp32 accumulate");
  b.report.set_meta("timing", timing.str());
  b.report.set_meta("useful FLOPs", "2 * bs^2 * N per stored block (same for every impl)");
  if (prop.major != 9)
    std::fprintf(stderr, "warning: %s is sm_%d%d; TriageAttention's kernels need sm_90a (H100)\n",
                 prop.name, prop.major, prop.minor);
}

template <typename T>
int run_all(const Options& opt, int argc, char** argv) {
  Bench<T> b(opt);
  describe_run(b, argc, argv);
  Rng rng(opt.seed + 1);
  int status = 0;
  try {
    for (int bs : opt.block_sizes)
      for (std::size_t d = 0; d < opt.densities.size(); ++d)
        run_case(b, bs, opt.densities[d], /*validate=*/d == 0, rng);
  } catch (const std::exception& e) {
    // Print what was measured before the failure, then the failure itself.
    b.report.print_markdown(std::cout);
    std::fprintf(stderr, "\nerror: %s\n", e.what());
    status = 1;
  }
  if (status == 0) b.report.print_markdown(std::cout);
  if (!opt.json_path.empty()) {
    b.report.write_json(opt.json_path);
    std::fprintf(stderr, "wrote %s\n", opt.json_path.c_str());
  }
  if (b.failed) {
    std::fprintf(stderr,
                 "\nFAILED: a wrong result, a rejected case or a determinism MISMATCH (see "
                 "above and the notes column)\n");
    status = 1;
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  try {
    opt = parse_options(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "error: %s", e.what());
    return 2;
  }
  try {
    int devices = 0;
    const cudaError_t err = cudaGetDeviceCount(&devices);
    if (err != cudaSuccess || devices == 0) {
      std::fprintf(stderr, "error: no CUDA device visible (%s); this benchmark needs an H100\n",
                   err != cudaSuccess ? cudaGetErrorString(err) : "device count is 0");
      return 1;
    }
    return opt.fp16 ? run_all<__half>(opt, argc, argv) : run_all<__nv_bfloat16>(opt, argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
