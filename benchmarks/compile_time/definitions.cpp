// The one TU a separately compiled program adds: jitcm's non-template
// functions, compiled once (measured under JITCM_SEPARATE_COMPILATION only).
#include <jitcm/separate_compilation.hpp>
