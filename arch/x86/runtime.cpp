// The few C and C++ run-time functions the compiler may call in a
// freestanding image. The string functions use the string instructions
// directly: written as plain loops, the compiler could recognise them as
// memcpy/memset idioms and turn them into calls to themselves.
#include "arch/x86/shutdown.hpp"

#include <sluice/types.hpp>

extern "C" {

void* memcpy(void* destination, const void* source, size_t length) {
    void* result = destination;
    asm volatile("rep movsb" : "+D"(destination), "+S"(source), "+c"(length) : : "memory");
    return result;
}

void* memset(void* destination, int value, size_t length) {
    void* result = destination;
    asm volatile("rep stosb" : "+D"(destination), "+c"(length) : "a"(value) : "memory");
    return result;
}

void* memmove(void* destination, const void* source, size_t length) {
    const uintptr_t to = reinterpret_cast<uintptr_t>(destination);
    const uintptr_t from = reinterpret_cast<uintptr_t>(source);
    if (to <= from || to >= from + length) return memcpy(destination, source, length);
    // Overlapping with the destination above the source: copy backwards,
    // from the last byte down (direction flag set only for this copy).
    void* last_to = static_cast<char*>(destination) + length - 1;
    const void* last_from = static_cast<const char*>(source) + length - 1;
    asm volatile("std\n\trep movsb\n\tcld" : "+D"(last_to), "+S"(last_from), "+c"(length) : : "memory");
    return destination;
}

int memcmp(const void* first, const void* second, size_t length) {
    // repe cmpsb stops at the first difference with RSI/RDI one past it.
    const unsigned char* first_bytes = static_cast<const unsigned char*>(first);
    const unsigned char* second_bytes = static_cast<const unsigned char*>(second);
    if (length == 0) return 0;
    bool differ;
    asm volatile("repe cmpsb"
                 : "+S"(first_bytes), "+D"(second_bytes), "+c"(length), "=@ccne"(differ)
                 :
                 : "memory");
    if (!differ) return 0;
    return static_cast<int>(first_bytes[-1]) - static_cast<int>(second_bytes[-1]);
}

// Called through a vtable slot whose function is pure: a bug, never normal flow.
[[noreturn]] void __cxa_pure_virtual() { sluice::x86::finish_fail("pure virtual function called"); }

}  // extern "C"

// Nothing is ever deleted through operator delete (the image has no global
// new); a virtual destructor could still reference it.
void operator delete(void*) noexcept { sluice::x86::finish_fail("operator delete called"); }
void operator delete(void*, size_t) noexcept { sluice::x86::finish_fail("operator delete called"); }
