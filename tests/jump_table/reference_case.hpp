// One slot assembled by the system assembler (see reference_slots.py).
#pragma once

#include <cstddef>
#include <cstdint>

enum class slot_kind { near, far, lazy };

struct reference_case {
  slot_kind kind;
  bool landing_pads;
  std::int64_t delta;  // target (near) or target cell (far, lazy) minus the slot's address
  std::uint32_t index;
  std::size_t size;
  const std::uint8_t* bytes;
  const char* source;  // the assembly the bytes came from
};
