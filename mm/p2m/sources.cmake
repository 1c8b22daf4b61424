# The p2m of translated domains: EPT and NPT formats for the one walker, and
# the per-domain table object. Includes nothing from drivers/.
set(SLUICE_CORE_SOURCES_P2M
    mm/p2m/p2m.cpp)
set(SLUICE_TEST_SOURCES_P2M
    tests/unit/p2m_test.cpp)
