# Xen's public ABI (include/public/): header-only. xen_abi_check.cpp includes
# every header so the image build compiles them freestanding too.
set(SLUICE_CORE_SOURCES_XEN_ABI
    common/xen_abi_check.cpp)
set(SLUICE_TEST_SOURCES_XEN_ABI
    tests/unit/xen_abi_test.cpp)
