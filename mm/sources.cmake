set(SLUICE_CORE_SOURCES_MM
    mm/page_allocator.cpp
    mm/heap.cpp
    mm/range_set.cpp)
set(SLUICE_TEST_SOURCES_MM
    tests/unit/page_allocator_test.cpp
    tests/unit/heap_test.cpp
    tests/unit/range_set_test.cpp)
