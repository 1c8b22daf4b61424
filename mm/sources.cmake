set(SLUICE_CORE_SOURCES_MM
    mm/page_allocator.cpp
    mm/heap.cpp)
set(SLUICE_TEST_SOURCES_MM
    tests/unit/page_allocator_test.cpp
    tests/unit/heap_test.cpp)
