// An Xbyak code generator that emits straight into a native_module, at the
// code's final address, and publishes in one call; calls from that code to
// the module's functions go through their jump-table slots.
//
// Only for programs that include it: the rest of jitcm never depends on
// Xbyak. Xbyak is header-only and x86 only (Debian packages no
// Xbyak_aarch64); written against Xbyak 6.68.
//
//     jitcm::adapters::xbyak_generator<manager::module> gen{module};   // room at the final address, open for writing
//     gen.mov(gen.eax, 1);
//     gen.call_function(2);                                            // call rel32 to function 2's slot
//     gen.ret();
//     auto published = gen.publish({.index = 1, .tier = tiers::baseline, .name = "f"});
//
// | expression                          | result                   | guarantees |
// |-------------------------------------|--------------------------|------------|
// | `xbyak_generator<M> gen{module, n}` | an `Xbyak::CodeGenerator` | writes into room for `n` bytes allocated in `module` (a pending_code: its write scope is open until publish); when the code outgrows it, Xbyak's AutoGrow moves it to ordinary memory, and publish copies it into room of the final size |
// | `gen.call_function(i)`              | —                        | `call rel32` to function `i`'s stable call target, or, if out of reach, its slot in the jump table of the code space the code lands in (always in reach) |
// | `gen.jump_function(i)`              | —                        | `jmp rel32` to it (a tail call) |
// | `gen.publish(desc)`                 | `result<published_code>` | resolves Xbyak's absolute addresses (labels, `call(ptr)`) against the final address, resolves the calls, publishes `desc` trimmed to the code's size; once per generator |
//
// Errors (from publish; nothing is published):
//   the module's allocate errors (room refused when the generator was made:
//     Xbyak then emitted into ordinary memory, and the error is kept)
//   unsupported       the module's allocator writes code through a second
//                     mapping (protection::dual_mapping): Xbyak resolves its
//                     AutoGrow addresses only against the buffer it writes,
//                     so they would point into the writable view
//   invalid_argument  a label used and never defined; publish called twice
//   out_of_range      call_function for an index the module does not declare
//   xbyak_category()  an error Xbyak recorded (built with XBYAK_NO_EXCEPTION;
//                     otherwise Xbyak throws its own Xbyak::Error while emitting)
//   then the module's publish errors.
//
// Thread safety: a generator belongs to the thread that made it (it holds
// a pending_code: see native_module::allocate for what its open write
// scope means for other threads writing into the same code space).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>

#include <xbyak/xbyak.h>

#include "../base/code.hpp"
#include "../base/error.hpp"
#include "../native_module.hpp"
#include "../base/result.hpp"
#include "detail/branch_fixup.hpp"

namespace jitcm::adapters {

namespace detail {

class xbyak_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "xbyak"; }
  std::string message(int value) const override { return Xbyak::ConvertErrorToString(value); }
};

/// The memory Xbyak emits into: first room in the module (the code's final
/// place), then, if the code outgrows it, ordinary memory Xbyak's AutoGrow
/// moves it to. Xbyak never changes its protection (the module's write
/// scope does).
template <class Module>
class xbyak_room : public Xbyak::Allocator {
 public:
  using pending_code = typename Module::pending_code;

  explicit xbyak_room(Module& module) noexcept : module_{&module} {}

  std::uint8_t* alloc(std::size_t size) override {
    if (!asked_for_room_) {
      asked_for_room_ = true;
      auto room = module_->allocate(size);
      if (room) {
        room_.emplace(std::move(*room));
        return reinterpret_cast<std::uint8_t*>(room_->writable());
      }
      room_error_ = room.error();
    }
    return static_cast<std::uint8_t*>(std::malloc(size));
  }
  void free(std::uint8_t* p) override {
    if (in_room(p)) {
      room_.reset();  // unpublished room goes back to the module
    } else {
      std::free(p);
    }
  }
  bool useProtect() const override { return false; }

 protected:
  [[nodiscard]] bool in_room(const std::uint8_t* p) const noexcept {
    return room_ && p == reinterpret_cast<const std::uint8_t*>(room_->writable());
  }

  Module* module_;
  std::optional<pending_code> room_;
  std::error_code room_error_;
  bool asked_for_room_ = false;
};

}  // namespace detail

/// The category of Xbyak's own error numbers.
[[nodiscard]] inline const std::error_category& xbyak_category() noexcept {
  static const detail::xbyak_error_category category;
  return category;
}

/// An Xbyak::CodeGenerator writing into `Module` (a native_module); see the
/// table at the top of this header.
template <class Module>
class xbyak_generator : private detail::xbyak_room<Module>, public Xbyak::CodeGenerator {
  using room_type = detail::xbyak_room<Module>;

 public:
  explicit xbyak_generator(Module& module, std::size_t initial_size = 4096)
      : room_type{module}, Xbyak::CodeGenerator{initial_size, Xbyak::AutoGrow, static_cast<room_type*>(this)} {}

  xbyak_generator(const xbyak_generator&) = delete;
  xbyak_generator& operator=(const xbyak_generator&) = delete;
  ~xbyak_generator() override = default;

  /// `call rel32` to function `index`'s slot, resolved at publish.
  void call_function(std::uint32_t index) { branch_to_function(0xE8, index); }
  /// `jmp rel32` to function `index`'s slot (a tail call), resolved at publish.
  void jump_function(std::uint32_t index) { branch_to_function(0xE9, index); }

  /// Puts the code at its final address and publishes it. Once per
  /// generator, whatever the outcome (a refused publish has ended the room's
  /// write scope).
  [[nodiscard]] result<published_code> publish(const code_desc& desc);

 private:
  void branch_to_function(std::uint8_t opcode, std::uint32_t index) {
    db(opcode);
    dd(0);
    calls_.add({.offset = getSize() - 4, .bias = -4, .field = {}, .index = index});
  }
  /// Moves the code into room of `bytes` unless it is in room that large.
  [[nodiscard]] result<void> settle(std::size_t bytes);

  detail::call_fixups calls_;
  bool published_ = false;
};

template <class Module>
result<void> xbyak_generator<Module>::settle(std::size_t bytes) {
  if (this->in_room(top_) && this->room_->size() >= bytes) return {};
  if (this->room_error_) return failure{this->room_error_};
  // Room too small is given back before new room is asked for: the module
  // is never called while this thread holds a write scope.
  if (this->in_room(top_)) {
    auto* copy = static_cast<std::uint8_t*>(std::malloc(getSize() == 0 ? 1 : getSize()));
    if (copy == nullptr) return failure{errc::out_of_memory};
    std::memcpy(copy, top_, getSize());
    this->room_.reset();
    top_ = copy;
  }
  auto room = this->module_->allocate(bytes);
  if (!room) return forward_error(room);
  std::memcpy(room->writable(), top_, getSize());
  // Xbyak frees what top_ points to when it is destroyed: the ordinary
  // memory goes now, the room when the generator does.
  std::free(top_);
  top_ = reinterpret_cast<std::uint8_t*>(room->writable());
  maxSize_ = room->size();
  this->room_.emplace(std::move(*room));
  return {};
}

template <class Module>
result<published_code> xbyak_generator<Module>::publish(const code_desc& desc) {
  if (published_) return failure{errc::invalid_argument};
  if (const int error = Xbyak::GetError(); error != 0) return failure{std::error_code{error, xbyak_category()}};
  if (hasUndefinedLabel()) return failure{errc::invalid_argument};
  calls_.plan_veneers(detail::code_space_span(*this->module_));
  const std::size_t code_bytes = getSize();
  const std::size_t total = calls_.size_with_veneers(code_bytes);
  if (auto settled = settle(total == 0 ? 1 : total); !settled) return forward_error(settled);
  auto& room = *this->room_;
  if (reinterpret_cast<std::uintptr_t>(room.writable()) != room.executable()) return failure{errc::unsupported};
  published_ = true;
  // Xbyak resolves AutoGrow's absolute addresses against top_, which is now
  // the code's final address.
  ready();
  if (const int error = Xbyak::GetError(); error != 0) return failure{std::error_code{error, xbyak_category()}};
  auto patched = calls_.apply(detail::isa::x64, room.writable(), room.executable(), code_bytes, *this->module_);
  if (!patched) return forward_error(patched);
  code_desc trimmed = desc;
  trimmed.instructions = address_region{room.executable(), total};
  return this->module_->publish(room, trimmed);
}

}  // namespace jitcm::adapters
