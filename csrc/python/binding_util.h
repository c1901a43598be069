// Shared pieces of the nanobind bindings: argument checks over DLPack arrays that name the bad
// argument, dtype/device descriptions, and the device guard. Each kernel family binds itself in
// its own bind_*.cpp; module.cpp assembles the module.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <cuda_runtime_api.h>

#include <climits>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "triageattention/attention.h"
#include "triageattention/types.h"

namespace triageattention::python {

namespace nb = nanobind;
namespace ta = triageattention;

using Input = nb::ndarray<nb::ro>;   // any dtype and device; read-only arrays accepted
using Output = nb::ndarray<>;        // any dtype and device; must be writable

template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream msg;
  (msg << ... << parts);
  return msg.str();
}

template <typename... Parts>
[[noreturn]] void value_error(const Parts&... parts) {
  throw std::invalid_argument(concat(parts...));
}

template <typename... Parts>
[[noreturn]] void type_error(const Parts&... parts) {
  throw nb::type_error(concat(parts...).c_str());
}

inline std::string dtype_str(nb::dlpack::dtype t) {
  using Code = nb::dlpack::dtype_code;
  const char* prefix = "unknown";
  switch (static_cast<Code>(t.code)) {
    case Code::Int: prefix = "int"; break;
    case Code::UInt: prefix = "uint"; break;
    case Code::Float: prefix = "float"; break;
    case Code::Bfloat: prefix = "bfloat"; break;
    case Code::Complex: prefix = "complex"; break;
    case Code::Bool: return "bool";
    default: break;
  }
  return concat(prefix, int(t.bits));
}

inline std::string device_str(int device_type) {
  switch (device_type) {
    case nb::device::cpu::value: return "cpu";
    case nb::device::cuda::value: return "cuda";
    case nb::device::cuda_host::value: return "cuda_host (pinned host memory)";
    case nb::device::cuda_managed::value: return "cuda_managed";
    default: return concat("DLPack device type ", device_type);
  }
}

inline bool is_dtype(nb::dlpack::dtype t, nb::dlpack::dtype_code code, int bits) {
  return t.code == uint8_t(code) && t.bits == bits && t.lanes == 1;
}

inline std::optional<ta::DType> float_dtype(nb::dlpack::dtype t) {
  using Code = nb::dlpack::dtype_code;
  if (is_dtype(t, Code::Float, 16)) return ta::DType::kFloat16;
  if (is_dtype(t, Code::Bfloat, 16)) return ta::DType::kBFloat16;
  if (is_dtype(t, Code::Float, 32)) return ta::DType::kFloat32;
  return std::nullopt;
}

inline ta::DType parse_dtype(const std::string& name, const char* arg) {
  for (ta::DType t : {ta::DType::kFloat16, ta::DType::kBFloat16, ta::DType::kFloat32})
    if (name == ta::dtype_name(t)) return t;
  value_error(arg, " must be 'float16', 'bfloat16' or 'float32', got '", name, "'");
}

template <typename Array>
std::string shape_str(const Array& a) {
  std::string s = "[";
  for (size_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + "]";
}

// Dense row-major layout; dimensions of extent 1 may carry any stride, and an array with no
// element any strides, as in torch and NumPy.
template <typename Array>
bool is_contiguous(const Array& a) {
  if (a.size() == 0) return true;
  int64_t expected = 1;
  for (size_t i = a.ndim(); i-- > 0;) {
    if (a.shape(i) != 1 && a.stride(i) != expected) return false;
    expected *= int64_t(a.shape(i));
  }
  return true;
}

template <typename Array>
void check_ndim(const char* fn, const char* name, const Array& a, size_t ndim,
                       const char* layout) {
  if (a.ndim() != ndim)
    value_error(fn, ": ", name, " must be ", ndim, "-D ", layout, ", got shape ", shape_str(a));
}

// Unit stride along rows' elements; returns the row stride (leading dimension) in elements.
template <typename Array>
int64_t leading_dim(const char* fn, const char* name, const Array& a) {
  if (a.shape(1) != 1 && a.stride(1) != 1)
    value_error(fn, ": ", name, " must have stride 1 in its last dimension, got strides (",
                a.stride(0), ", ", a.stride(1), ")");
  if (a.shape(0) > 1 && a.stride(0) < int64_t(a.shape(1)))
    value_error(fn, ": ", name, " must have a row stride >= its ", a.shape(1),
                " columns (rows may not overlap), got ", a.stride(0));
  return a.shape(0) > 1 ? a.stride(0) : int64_t(a.shape(1));
}

inline bool aligned(const void* ptr, size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(ptr) % bytes == 0;
}

// Makes `device` current for the launch and restores the caller's device afterwards.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) check(cudaSetDevice(device), "cudaSetDevice");
    current_ = device;
  }
  ~DeviceGuard() {
    if (current_ != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  static void check(cudaError_t err, const char* what) {
    if (err != cudaSuccess)
      throw ta::CudaError(concat("TriageAttention: ", what, " failed: ", cudaGetErrorName(err),
                                 " (", cudaGetErrorString(err), ")"));
  }
  int previous_ = 0;
  int current_ = 0;
};

// All arrays must live on one CUDA device; returns its id.
class SameCudaDevice {
 public:
  explicit SameCudaDevice(const char* fn) : fn_(fn) {}

  template <typename Array>
  void add(const char* name, const Array& a) {
    if (a.device_type() != nb::device::cuda::value)
      value_error(fn_, ": ", name, " must be on a CUDA device, got ", device_str(a.device_type()));
    if (first_ == nullptr) {
      first_ = name;
      device_ = a.device_id();
    } else if (a.device_id() != device_) {
      value_error(fn_, ": all arrays must be on the same CUDA device, but ", first_, " is on cuda:",
                  device_, " and ", name, " on cuda:", a.device_id());
    }
  }
  int device() const { return device_; }

 private:
  const char* fn_;
  const char* first_ = nullptr;
  int device_ = 0;
};


// Element strides {batch, head, seq} of a [B, H, S, D] array whose last dimension must be
// contiguous. A dimension of extent 1 never moves an address, and frameworks report arbitrary
// strides for it (after unsqueeze or as_strided, say); it gets its contiguous value instead, which
// the kernel's stride rules (multiples of 16 bytes, for the TMA descriptors) always accept. An
// array with no element is never read (its strides may all be 0).
template <typename Array>
ta::AttentionStrides attention_strides(const char* fn, const char* name, const Array& a) {
  const int64_t H = int64_t(a.shape(1)), S = int64_t(a.shape(2)), D = int64_t(a.shape(3));
  if (a.size() > 0 && D > 1 && a.stride(3) != 1)
    value_error(fn, ": ", name, " must have stride 1 in its last (head_dim) dimension, got ",
                "strides (", a.stride(0), ", ", a.stride(1), ", ", a.stride(2), ", ", a.stride(3),
                ")");
  return {a.shape(0) == 1 ? H * S * D : a.stride(0), H == 1 ? S * D : a.stride(1),
          S == 1 ? D : a.stride(2)};
}

template <typename A, typename B>
bool same_shape(const A& a, const B& b) {
  if (a.ndim() != b.ndim()) return false;
  for (size_t i = 0; i < a.ndim(); ++i)
    if (a.shape(i) != b.shape(i)) return false;
  return true;
}

template <typename Array>
int to_int(const char* fn, const char* what, const Array& a, size_t dim) {
  if (a.shape(dim) > size_t(INT_MAX))
    value_error(fn, ": ", what, " must be < 2^31, got ", a.shape(dim));
  return int(a.shape(dim));
}

}  // namespace triageattention::python
