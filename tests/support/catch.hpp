// One include for Catch2 2.x (Debian's 2.13) and 3.x, so the tests build with either.
#pragma once

#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#define JITCM_CATCH3 1
#else
#include <catch2/catch.hpp>
#endif
