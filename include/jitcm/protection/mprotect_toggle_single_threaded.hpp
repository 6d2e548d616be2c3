// W^X by toggling page protection, with code blocks packed on shared pages:
// UNSAFE when other threads run code of the allocator while one writes.
#pragma once

#include "mprotect_toggle.hpp"
#include "strategy.hpp"

namespace jitcm::protection {

/// mprotect_toggle without pages of its own per block: allocators pack blocks
/// (and the first block next to the code header) on shared pages, as jitcm
/// did before blocks got pages of their own. A write scope makes the pages it
/// covers RW and not executable for every thread, so writing a new function
/// takes execute permission from the functions (and jump-table slots) on the
/// same pages: a thread running one of them meanwhile dies of SIGSEGV.
///
/// Use it only when no other thread runs code of the allocator while any
/// thread writes into it: a single-threaded JIT, or one that stops its
/// mutator threads to compile. It saves the rest of a page per block
/// (mprotect_toggle rounds every block up to whole pages). No preset and no
/// default uses it.
///
/// Thread safety: as mprotect_toggle for the calls themselves; running code
/// of the space while another thread has a write scope open is the unsafe
/// part described above.
struct mprotect_toggle_single_threaded : mprotect_toggle {
  static constexpr const char* name = "mprotect_toggle_single_threaded";
  static constexpr bool write_revokes_execute = true;
  static constexpr bool exclusive_pages = false;
};
// That it satisfies protection::strategy is checked in
// tests/protection/test_strategies.cpp: a check here would instantiate the
// strategy's members in every TU that includes the header.

}  // namespace jitcm::protection
