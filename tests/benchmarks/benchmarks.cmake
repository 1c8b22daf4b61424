# Google Benchmark binaries: they report figures and never fail on time.
# A short smoke run in ctest only checks that every benchmark still runs.
find_package(benchmark REQUIRED)
if(SLUICE_BENCHMARK_ALL)
    add_executable(sluice_benchmarks ${SLUICE_BENCHMARK_ALL})
    # Whole, as the unit tests link it (tests/tests.cmake).
    target_link_libraries(sluice_benchmarks PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,sluice_core>" benchmark::benchmark
                          benchmark::benchmark_main)
    target_include_directories(sluice_benchmarks PRIVATE tests)
    target_compile_options(sluice_benchmarks PRIVATE ${SLUICE_WARNINGS})
    if(SLUICE_BUILD_TESTS)
        add_test(NAME benchmark.smoke COMMAND sluice_benchmarks --benchmark_min_time=0.001
                                              --benchmark_filter=. --benchmark_format=console)
        set_tests_properties(benchmark.smoke PROPERTIES LABELS benchmark TIMEOUT 300)
    endif()
endif()
