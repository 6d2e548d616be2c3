// The write scope of strategies that never change protection: it only has to
// make the written instructions visible when it ends.
#pragma once

#include <utility>

#include "../../detail/assert.hpp"
#include "../../base/address_region.hpp"
#include "../../platform/instruction_cache.hpp"
#include "../../base/result.hpp"

namespace jitcm::protection::detail {

class flushing_write_scope {
 public:
  flushing_write_scope() noexcept = default;
  explicit flushing_write_scope(address_region executable) noexcept : executable_{executable} {}
  flushing_write_scope(flushing_write_scope&& other) noexcept : executable_{std::exchange(other.executable_, {})} {}
  flushing_write_scope& operator=(flushing_write_scope&& other) noexcept {
    if (this != &other) {
      JITCM_ASSERT_CLEANUP(end());
      executable_ = std::exchange(other.executable_, {});
    }
    return *this;
  }
  ~flushing_write_scope() { JITCM_ASSERT_CLEANUP(end()); }

  result<void> end() noexcept {
    if (!executable_.empty()) platform::flush_instruction_cache(executable_.begin(), executable_.size());
    executable_ = {};
    return {};
  }

 private:
  address_region executable_;
};

}  // namespace jitcm::protection::detail
