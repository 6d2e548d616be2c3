// Code on its way into a module: room at the final address with a write
// scope open (pending_code), and the copy of a batch of finished code into
// such room (copy_batch).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <system_error>
#include <utility>
#include <vector>

#include "assert.hpp"
#include "../module_options.hpp"
#include "../base/result.hpp"

namespace jitcm::detail {

/// Room for code in a module, at its final address, open for writing. Write
/// the instructions at `writable()` (they run at `executable()`), then
/// `module.publish(pending, desc)`. Dropping it unpublished frees the room.
/// `Module` (a native_module) creates it and publishes it; `Allocator` is
/// the module's allocator, whose block and write scope it holds.
/// Thread safety: a pending_code belongs to one thread (the write scope it
/// holds must end on the thread that opened it). It must not outlive its
/// module.
template <class Module, class Allocator>
class pending_code {
 public:
  using block = typename Allocator::block;

  pending_code() noexcept = default;
  pending_code(pending_code&& other) noexcept
      : module_{std::exchange(other.module_, nullptr)},
        memory_{other.memory_},
        scope_{std::move(other.scope_)},
        write_error_{other.write_error_},
        published_{other.published_} {
    other.scope_.reset();
  }
  pending_code& operator=(pending_code&& other) noexcept {
    if (this != &other) {
      abandon();
      module_ = std::exchange(other.module_, nullptr);
      memory_ = other.memory_;
      scope_ = std::move(other.scope_);
      other.scope_.reset();
      write_error_ = other.write_error_;
      published_ = other.published_;
    }
    return *this;
  }
  pending_code(const pending_code&) = delete;
  pending_code& operator=(const pending_code&) = delete;
  ~pending_code() { abandon(); }

  /// Where the code will run.
  [[nodiscard]] std::uintptr_t executable() const noexcept { return memory_.executable(); }
  /// Bytes of room (the requested size rounded up to the code alignment).
  [[nodiscard]] std::size_t size() const noexcept { return memory_.size(); }
  /// Where to write the byte that runs at executable(); valid while the
  /// write scope is open (until end_write or publish).
  [[nodiscard]] std::byte* writable() const noexcept { return reinterpret_cast<std::byte*>(memory_.writable()); }
  [[nodiscard]] std::span<std::byte> bytes() const noexcept { return {writable(), scope_ ? size() : 0}; }
  [[nodiscard]] bool published() const noexcept { return published_; }
  /// Whether the write scope is still open.
  [[nodiscard]] bool writing() const noexcept { return scope_.has_value(); }

  /// Ends the write scope early (the instruction cache is flushed); publish
  /// does it otherwise. Errors: the strategy's protection error. A refused
  /// end cannot be undone (the pages may not be executable): this pending
  /// code then refuses to be published with that error, and can only be
  /// dropped, which gives its memory back.
  result<void> end_write() noexcept;

 private:
  friend Module;
  pending_code(Module* owner, const block& memory, typename Allocator::write_scope scope) noexcept
      : module_{owner}, memory_{memory}, scope_{std::move(scope)} {}

  void abandon() noexcept;

  Module* module_ = nullptr;
  block memory_{};
  std::optional<typename Allocator::write_scope> scope_{};
  std::error_code write_error_{};
  bool published_ = false;
};

// Out of the class, so that an explicit instantiation declaration (see
// README, "Compile time") keeps them out of the TUs that use the module.
template <class Module, class Allocator>
result<void> pending_code<Module, Allocator>::end_write() noexcept {
  if (!scope_) return write_error_ ? result<void>{failure{write_error_}} : result<void>{};
  auto ended = scope_->end();
  scope_.reset();
  if (!ended) write_error_ = ended.error();
  return ended;
}

template <class Module, class Allocator>
void pending_code<Module, Allocator>::abandon() noexcept {
  JITCM_ASSERT_CLEANUP(end_write());
  if (module_ != nullptr && !published_) JITCM_ASSERT_CLEANUP(module_->allocator_.free(memory_));
  module_ = nullptr;
}

/// Copies each item of `chunk` into its block of `memory` (same order) and
/// runs `relocate(item, writable_bytes, final_address)` on it, inside one
/// write scope per block; the scopes of one space nest, so the outermost
/// one per code space does the protection changes. Every scope is ended,
/// innermost first; the first error is returned. A refused end leaves pages
/// that may not be executable: the caller must not publish the chunk.
template <class Allocator, class Relocate>
[[nodiscard]] result<void> copy_batch(Allocator& allocator, std::span<const finished_code> chunk,
                                      const std::vector<typename Allocator::block>& memory, Relocate& relocate) {
  std::vector<typename Allocator::write_scope> scopes;
  scopes.reserve(memory.size());
  result<void> outcome;
  for (std::size_t i = 0; i < chunk.size(); ++i) {
    auto scope = allocator.begin_write(memory[i].region());
    if (!scope) {
      outcome = forward_error(scope);
      break;
    }
    scopes.push_back(std::move(*scope));
    std::memcpy(reinterpret_cast<void*>(memory[i].writable()), chunk[i].bytes.data(), chunk[i].bytes.size());
    relocate(chunk[i], std::span<std::byte>{reinterpret_cast<std::byte*>(memory[i].writable()), chunk[i].bytes.size()},
             memory[i].executable());
  }
  for (auto scope = scopes.rbegin(); scope != scopes.rend(); ++scope) {
    if (auto ended = scope->end(); !ended && outcome) outcome = ended;
  }
  return outcome;
}

}  // namespace jitcm::detail
