// Placement new. The host build takes it from <new>; the image has no C++
// library, so the image defines the one inline form it needs.
#pragma once

#include <stddef.h>

#if defined(SLUICE_IMAGE)
inline void* operator new(size_t, void* place) noexcept { return place; }
inline void* operator new[](size_t, void* place) noexcept { return place; }
#else
#include <new>
#endif
