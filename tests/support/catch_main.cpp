// Catch2's main, compiled once and linked into every test program.
#include "catch.hpp"

#if !defined(JITCM_CATCH3)
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

int main(int argc, char* argv[]) { return Catch::Session().run(argc, argv); }
