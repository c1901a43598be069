// SHA-256 (FIPS 180-4) of host buffers, used to show that outputs are bitwise identical run to run.
// Written here because the GPU machine has no crypto library to link against; speed is
// secondary (a few hundred MB/s), correctness is checked against known digests.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace triageattention::bench {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t bytes);
  // Lowercase hex digest (64 characters). Ends this hash: call update() no more.
  std::string hex_digest();

 private:
  void compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string sha256_hex(const void* data, std::size_t bytes);

}  // namespace triageattention::bench
