# Unit tests (GoogleTest), fuzzers (libFuzzer, a bounded run each) and boot
# tests (the real image under QEMU), all registered with ctest.
find_package(GTest REQUIRED)
include(GoogleTest)

option(SLUICE_HOST_SANITIZERS "Build host tests with AddressSanitizer and UBSan" OFF)
set(SLUICE_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

# The core is linked whole, as in the image: objects nobody names but that
# register themselves in a linker section (IOMMU vendors, command-line
# options) are then always in, whatever the tests happen to reference.
add_executable(sluice_unit_tests ${SLUICE_TEST_ALL})
target_link_libraries(sluice_unit_tests PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,sluice_core>" GTest::gtest
                      GTest::gtest_main)
target_include_directories(sluice_unit_tests PRIVATE tests)
# The firmware corpus test finds ../shared/firmware beside the source tree.
target_compile_definitions(sluice_unit_tests PRIVATE SLUICE_SOURCE_DIRECTORY="${CMAKE_CURRENT_SOURCE_DIR}")
target_compile_options(sluice_unit_tests PRIVATE ${SLUICE_WARNINGS})
if(SLUICE_HOST_SANITIZERS)
    target_compile_options(sluice_core PRIVATE ${SLUICE_SANITIZER_FLAGS})
    target_compile_options(sluice_unit_tests PRIVATE ${SLUICE_SANITIZER_FLAGS})
    target_link_options(sluice_unit_tests PRIVATE ${SLUICE_SANITIZER_FLAGS})
endif()
gtest_discover_tests(sluice_unit_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit TIMEOUT 120)

# --- Fuzzers ---------------------------------------------------------------
# Each tests/fuzz/<name>_fuzzer.cpp becomes a libFuzzer binary linked against
# a sanitized copy of the core, and a ctest entry that runs it for a bounded
# number of inputs from its seed corpus (tests/fuzz/corpus/<name>/).
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    add_library(sluice_core_fuzz STATIC ${SLUICE_CORE_ALL})
    target_include_directories(sluice_core_fuzz PUBLIC include ${CMAKE_CURRENT_SOURCE_DIR})
    target_compile_definitions(sluice_core_fuzz PUBLIC SLUICE_HOSTED=1)
    target_compile_options(sluice_core_fuzz PRIVATE ${SLUICE_WARNINGS} -fsanitize=fuzzer-no-link,address,undefined
                           -fno-sanitize-recover=all)

    file(GLOB sluice_fuzzers CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/fuzz/*_fuzzer.cpp)
    foreach(fuzzer_source IN LISTS sluice_fuzzers)
        get_filename_component(fuzzer_name ${fuzzer_source} NAME_WE)
        add_executable(${fuzzer_name} ${fuzzer_source})
        target_link_libraries(${fuzzer_name} PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,sluice_core_fuzz>")
        target_compile_options(${fuzzer_name} PRIVATE ${SLUICE_WARNINGS} -fsanitize=fuzzer,address,undefined
                               -fno-sanitize-recover=all)
        target_link_options(${fuzzer_name} PRIVATE -fsanitize=fuzzer,address,undefined)
        string(REPLACE "_fuzzer" "" corpus_name ${fuzzer_name})
        set(corpus ${CMAKE_CURRENT_SOURCE_DIR}/tests/fuzz/corpus/${corpus_name})
        set(work_corpus ${CMAKE_CURRENT_BINARY_DIR}/fuzz-corpus/${corpus_name})
        # The seed corpus is copied so a run never writes into the source tree.
        add_test(NAME fuzz.${corpus_name}
                 COMMAND ${CMAKE_COMMAND} -DFUZZER=$<TARGET_FILE:${fuzzer_name}> -DSEEDS=${corpus}
                         -DWORK=${work_corpus} -P ${CMAKE_CURRENT_SOURCE_DIR}/tests/fuzz/run_fuzzer.cmake)
        set_tests_properties(fuzz.${corpus_name} PROPERTIES LABELS fuzz TIMEOUT 120)
    endforeach()
endif()

# --- Boot tests ------------------------------------------------------------
# One ctest entry per scenario file; see docs/testing.md.
if(SLUICE_BUILD_IMAGE AND TARGET sluice.elf)
    find_package(Python3 REQUIRED COMPONENTS Interpreter)
    file(GLOB sluice_scenarios CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/boot/scenarios/*.toml)
    foreach(scenario IN LISTS sluice_scenarios)
        get_filename_component(scenario_name ${scenario} NAME_WE)
        add_test(NAME boot.${scenario_name}
                 COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/tests/boot/harness.py
                         --image $<TARGET_FILE:sluice.elf> --log-directory ${CMAKE_CURRENT_BINARY_DIR}/boot-logs
                         ${scenario})
        set_tests_properties(boot.${scenario_name} PROPERTIES LABELS boot TIMEOUT 180)
    endforeach()
endif()

# --- Layering ----------------------------------------------------------------
# The include rules of docs/architecture.md, checked on the sources.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
add_test(NAME layering COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/tests/layering/check_layers.py
                               ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(layering PROPERTIES LABELS unit TIMEOUT 60)
