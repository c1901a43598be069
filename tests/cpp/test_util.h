// Helpers shared by the C++ tests: device detection, device buffers, random data, comparisons.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "triageattention/types.h"

namespace ta_test {

using triageattention::DType;

// Reason to skip GPU tests, or empty when a Hopper GPU is usable.
std::string gpu_skip_reason();

#define TA_REQUIRE_GPU()                                           \
  do {                                                             \
    const std::string reason = ::ta_test::gpu_skip_reason();       \
    if (!reason.empty()) GTEST_SKIP() << reason;                   \
  } while (0)

#define TA_EXPECT_CUDA(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

// Device allocation owned by the test.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }
  std::size_t bytes() const { return bytes_; }
  void upload(const void* host, std::size_t bytes);
  void download(void* host, std::size_t bytes) const;
  void fill_bytes(unsigned char value);

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

// Host values stored in a given dtype (raw 16- or 32-bit words), with their float widening.
struct TypedHost {
  DType type;
  std::vector<uint16_t> half_bits;  // fp16 / bf16
  std::vector<float> f32;           // fp32

  TypedHost(DType t, std::size_t n);
  std::size_t size() const;
  std::size_t bytes() const;
  const void* data() const;
  void* data();
  float get(std::size_t i) const;
  void set(std::size_t i, float v);  // rounds to the dtype
};

// Uniform(-1, 1) values rounded to `type`; returns the rounded values widened to float too.
TypedHost random_typed(DType type, std::size_t n, std::mt19937& rng, std::vector<float>* widened);

// Expects check(params) to throw std::invalid_argument whose message contains `needle`.
template <class Check, class Params>
void expect_rejected_by(Check check, const Params& params, const std::string& needle) {
  try {
    check(params);
    ADD_FAILURE() << "accepted parameters that should fail with '" << needle << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message '" << e.what() << "' does not mention '" << needle << "'";
  }
}

// The attention and triage grids: (dtype, head dim, key block, query block, causal), and the test
// name of one point, e.g. "bf16_d128_bs64_qb128_causal".
inline auto attention_grid() {
  return ::testing::Combine(::testing::Values(DType::kFloat16, DType::kBFloat16),
                            ::testing::Values(64, 128), ::testing::Values(16, 32, 64, 128),
                            ::testing::Values(64, 128), ::testing::Bool());
}
std::string grid_case_name(DType dtype, int head_dim, int block_size, int q_block, bool causal);

// Largest |got - want| relative to (|want| + rms(want)), the comparison used by the GPU tests.
double max_scaled_error(const std::vector<float>& got, const std::vector<float>& want);

}  // namespace ta_test
