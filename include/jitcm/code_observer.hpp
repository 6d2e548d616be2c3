// Telling profilers and debuggers about code as it comes and goes.
#pragma once

#include <algorithm>
#include <mutex>
#include <vector>

namespace jitcm {

class code;

/// Implemented by whoever must know which code exists at which address: a
/// profiler writing perf maps, a debugger setting breakpoints, a crash
/// reporter. Callbacks run on the thread that published or freed the code,
/// while the module's lock is held: they must be quick and must not call
/// back into the module or the manager.
class code_observer {
 public:
  /// `c` was published: its instructions are final and may run from now on.
  virtual void on_code_added(const code& c) noexcept = 0;
  /// `c` is about to be freed: no thread runs it any more and its address
  /// range may be reused once the call returns.
  virtual void on_code_freed(const code& c) noexcept = 0;

 protected:
  code_observer() = default;
  code_observer(const code_observer&) = default;
  code_observer& operator=(const code_observer&) = default;
  ~code_observer() = default;
};

namespace detail {

/// The observers of one code manager. Thread safety: every member from any
/// thread; notifications are serialised with adding and removing observers.
class code_observer_list {
 public:
  void add(code_observer& observer) {
    std::lock_guard lock{mutex_};
    if (std::find(observers_.begin(), observers_.end(), &observer) == observers_.end()) {
      observers_.push_back(&observer);
    }
  }
  /// Returns whether `observer` was registered.
  bool remove(code_observer& observer) {
    std::lock_guard lock{mutex_};
    const auto found = std::find(observers_.begin(), observers_.end(), &observer);
    if (found == observers_.end()) return false;
    observers_.erase(found);
    return true;
  }
  void added(const code& c) const noexcept {
    std::lock_guard lock{mutex_};
    for (code_observer* observer : observers_) observer->on_code_added(c);
  }
  void freed(const code& c) const noexcept {
    std::lock_guard lock{mutex_};
    for (code_observer* observer : observers_) observer->on_code_freed(c);
  }

 private:
  mutable std::mutex mutex_;
  std::vector<code_observer*> observers_;
};

}  // namespace detail
}  // namespace jitcm
