# AMD SVM: the VMCB layout and exit names (core); detection, enabling, the
# VMRUN stub and the run loop (image only).
set(SLUICE_CORE_SOURCES_X86_SVM
    arch/x86/hvm/svm/vmcb.cpp)
set(SLUICE_IMAGE_SOURCES_X86_SVM
    arch/x86/hvm/svm/svm.cpp
    arch/x86/hvm/svm/run.cpp
    arch/x86/hvm/svm/vmrun.S)
