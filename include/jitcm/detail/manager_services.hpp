// What a native_module needs from the code manager that created it.
#pragma once

#include "../allocator/commit_budget.hpp"
#include "../code_observer.hpp"

namespace jitcm::detail {

/// The manager-wide services a module uses: the shared lookup policy, the
/// code observers, the committed-bytes budget, and two notifications. A
/// plain struct of pointers so that native_module does not depend on
/// basic_code_manager (modules sit below the manager in the layers).
/// The manager outlives its modules, so the pointers stay valid.
template <class Lookup>
struct manager_services {
  Lookup* lookup = nullptr;
  const code_observer_list* observers = nullptr;
  commit_budget* budget = nullptr;
  void* manager = nullptr;
  /// Called after the module may have committed more memory, with no lock of
  /// the module held (the manager may flush every module from it).
  void (*committed_grew)(void* manager) noexcept = nullptr;
  /// Called by a module's destructor before anything is torn down.
  void (*module_destroyed)(void* manager, const void* module) noexcept = nullptr;
};

}  // namespace jitcm::detail
