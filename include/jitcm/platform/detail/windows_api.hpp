// <windows.h>, included the one way every jitcm header does it.
//
// <windows.h> defines macros that collide with ordinary C++: `min` and `max`
// (kept out with NOMINMAX) and, from 16-bit Windows, `near` and `far` as
// empty words, which would erase jitcm's jump_table::routing::near and
// ::far. Those two are undefined here; FAR and NEAR, which Windows headers
// included later still use, stay defined as the empty words they stood for.
// config.hpp includes this, so it holds whether a program includes
// <windows.h> before jitcm or after; code that still spells pointers `far`
// cannot be compiled together with jitcm.
#pragma once

#include "../../base/config.hpp"

#if defined(JITCM_OS_WINDOWS)

#if !defined(NOMINMAX)
#define NOMINMAX 1
#endif
#if !defined(WIN32_LEAN_AND_MEAN)
#define WIN32_LEAN_AND_MEAN 1
#endif
#include <windows.h>

#undef near
#undef far
#undef NEAR
#undef FAR
#define NEAR
#define FAR

#endif  // JITCM_OS_WINDOWS
