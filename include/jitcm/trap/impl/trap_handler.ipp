// Definitions of <jitcm/trap_handler.hpp>: inline there by default,
// compiled once by <jitcm/separate_compilation.hpp> under separate
// compilation (the handler's state is then defined in that TU).
#pragma once

#include <thread>
#include <utility>

#include "../../trap_handler.hpp"

namespace jitcm::trap {

JITCM_DECL registration& registration::operator=(registration&& other) noexcept {
  if (this != &other) {
    detach();
    slot_ = std::exchange(other.slot_, nullptr);
  }
  return *this;
}

JITCM_DECL registration::~registration() { detach(); }

JITCM_DECL void registration::detach() noexcept {
  if (slot_ != nullptr) detail::registrations.close(*std::exchange(slot_, nullptr));
}

JITCM_DECL result<void> registration::set_landing_pad(std::uintptr_t pad) noexcept {
  if (slot_ == nullptr) return failure{errc::not_owned};
  std::lock_guard lock{detail::registrations.writers()};
  slot_->set_landing_pad(pad);
  return {};
}

JITCM_DECL result<void> registration::set_module_landing_pad(const void* module, std::uintptr_t pad) noexcept {
  if (slot_ == nullptr) return failure{errc::not_owned};
  std::lock_guard lock{detail::registrations.writers()};
  if (auto ok = slot_->module_pads().set(module, pad); !ok) return ok;
  slot_->wait_for_handlers();
  return {};
}

JITCM_DECL result<void> registration::clear_module_landing_pad(const void* module) noexcept {
  if (slot_ == nullptr) return failure{errc::not_owned};
  std::lock_guard lock{detail::registrations.writers()};
  if (!slot_->module_pads().clear(module)) return failure{errc::not_owned};
  slot_->wait_for_handlers();
  return {};
}

#if !defined(JITCM_OS_WINDOWS)

JITCM_DECL alternate_stack::alternate_stack(alternate_stack&& other) noexcept
    : memory_{std::exchange(other.memory_, {})},
      previous_{other.previous_},
      active_{std::exchange(other.active_, false)} {}

JITCM_DECL alternate_stack::alternate_stack(address_region memory) noexcept : memory_{memory} {}

JITCM_DECL result<alternate_stack> alternate_stack::create(std::size_t bytes) noexcept {
  const std::size_t page = platform::page_size();
  auto size = platform::round_up(bytes, page);
  if (!size) return forward_error(size);
  if (*size > SIZE_MAX - page) return failure{errc::size_overflow};
  auto reserved = platform::reserve(*size + page);
  if (!reserved) return forward_error(reserved);
  alternate_stack made{*reserved};
  const address_region usable{reserved->begin() + page, *size};
  if (auto ok = platform::commit(usable, platform::access::read_write); !ok) return forward_error(ok);
  auto previous = platform::set_alternate_signal_stack(usable);
  if (!previous) return forward_error(previous);
  made.previous_ = *previous;
  made.active_ = true;
  return made;
}

JITCM_DECL alternate_stack::~alternate_stack() {
  if (active_) JITCM_ASSERT_CLEANUP(platform::restore_alternate_signal_stack(previous_));
  if (!memory_.empty()) JITCM_ASSERT_CLEANUP(platform::unmap(memory_));
}

namespace detail {

struct handler_state {
  std::mutex installing;
  bool installed = false;                   // under `installing`
  platform::fault_dispositions previous{};  // written before the handler is installed
  std::atomic<bool> require_thread_in_jit_code{false};
  std::atomic<std::size_t> in_flight{0};  // handlers reading `previous`
};

JITCM_DECL constinit handler_state handler{};

[[nodiscard]] JITCM_DECL bool may_claim(const siginfo_t* info) noexcept {
  if (!platform::raised_by_kernel(info)) return false;
  return !handler.require_thread_in_jit_code.load(std::memory_order_relaxed) || thread_in_jit_code();
}

JITCM_DECL void resume_at_landing_pad(platform::signal_context context, std::uintptr_t pad, fault claimed) noexcept {
  this_thread.last_claimed = claimed;
  context.set_argument(0, claimed.pc);
  context.set_argument(1, claimed.address);
  context.set_pc(pad);
}

JITCM_DECL void on_fault(int signal, siginfo_t* info, void* raw_context) {
  const int saved_errno = errno;
  handler.in_flight.fetch_add(1, std::memory_order_seq_cst);
  const struct sigaction previous = handler.previous.of(signal);
  const platform::signal_context context{raw_context};
  const fault at{context.pc(), reinterpret_cast<std::uintptr_t>(info->si_addr)};
  const std::uintptr_t pad = may_claim(info) ? registrations.landing_pad_for(at.pc) : 0;
  handler.in_flight.fetch_sub(1, std::memory_order_release);
  if (pad != 0) {
    resume_at_landing_pad(context, pad, at);
  } else {
    platform::forward_fault(previous, signal, info, raw_context);
  }
  errno = saved_errno;
}

JITCM_DECL void wait_for_handlers() noexcept {
  while (handler.in_flight.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

}  // namespace detail

JITCM_DECL result<void> install(const handler_options& options) noexcept {
  std::lock_guard lock{detail::handler.installing};
  detail::handler.require_thread_in_jit_code.store(options.require_thread_in_jit_code, std::memory_order_relaxed);
  if (detail::handler.installed) return {};
  auto before = platform::current_fault_dispositions();
  if (!before) return forward_error(before);
  // The handler may run the moment it is installed: what it chains to is
  // stored first.
  detail::handler.previous = *before;
  auto previous = platform::install_fault_handler(&detail::on_fault);
  if (!previous) return forward_error(previous);
  detail::handler.installed = true;
  return {};
}

JITCM_DECL result<void> uninstall() noexcept {
  std::lock_guard lock{detail::handler.installing};
  if (!detail::handler.installed) return {};
  if (!platform::fault_handler_installed(&detail::on_fault)) return failure{errc::busy};
  if (auto ok = platform::restore_fault_dispositions(detail::handler.previous); !ok) return ok;
  detail::handler.installed = false;
  detail::wait_for_handlers();
  return {};
}

JITCM_DECL bool installed() noexcept {
  std::lock_guard lock{detail::handler.installing};
  return detail::handler.installed;
}

#endif  // !JITCM_OS_WINDOWS

}  // namespace jitcm::trap
