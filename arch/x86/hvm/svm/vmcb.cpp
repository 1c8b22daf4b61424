#include "arch/x86/hvm/svm/vmcb.hpp"

#include <sluice/format.hpp>
#include <sluice/utility.hpp>

namespace sluice::x86::svm {
namespace {

struct NamedExit {
    uint64_t code;
    const char* name;
};

// Appendix C, "SVM Intercept Exit Codes".
constexpr NamedExit named_exits[] = {
    {0x60, "VMEXIT_INTR"},         {0x61, "VMEXIT_NMI"},          {0x62, "VMEXIT_SMI"},
    {0x63, "VMEXIT_INIT"},         {0x64, "VMEXIT_VINTR"},        {0x65, "VMEXIT_CR0_SEL_WRITE"},
    {0x66, "VMEXIT_IDTR_READ"},    {0x67, "VMEXIT_GDTR_READ"},    {0x68, "VMEXIT_LDTR_READ"},
    {0x69, "VMEXIT_TR_READ"},      {0x6a, "VMEXIT_IDTR_WRITE"},   {0x6b, "VMEXIT_GDTR_WRITE"},
    {0x6c, "VMEXIT_LDTR_WRITE"},   {0x6d, "VMEXIT_TR_WRITE"},     {0x6e, "VMEXIT_RDTSC"},
    {0x6f, "VMEXIT_RDPMC"},        {0x70, "VMEXIT_PUSHF"},        {0x71, "VMEXIT_POPF"},
    {0x72, "VMEXIT_CPUID"},        {0x73, "VMEXIT_RSM"},          {0x74, "VMEXIT_IRET"},
    {0x75, "VMEXIT_SWINT"},        {0x76, "VMEXIT_INVD"},         {0x77, "VMEXIT_PAUSE"},
    {0x78, "VMEXIT_HLT"},          {0x79, "VMEXIT_INVLPG"},       {0x7a, "VMEXIT_INVLPGA"},
    {0x7b, "VMEXIT_IOIO"},         {0x7c, "VMEXIT_MSR"},          {0x7d, "VMEXIT_TASK_SWITCH"},
    {0x7e, "VMEXIT_FERR_FREEZE"},  {0x7f, "VMEXIT_SHUTDOWN"},     {0x80, "VMEXIT_VMRUN"},
    {0x81, "VMEXIT_VMMCALL"},      {0x82, "VMEXIT_VMLOAD"},       {0x83, "VMEXIT_VMSAVE"},
    {0x84, "VMEXIT_STGI"},         {0x85, "VMEXIT_CLGI"},         {0x86, "VMEXIT_SKINIT"},
    {0x87, "VMEXIT_RDTSCP"},       {0x88, "VMEXIT_ICEBP"},        {0x89, "VMEXIT_WBINVD"},
    {0x8a, "VMEXIT_MONITOR"},      {0x8b, "VMEXIT_MWAIT"},        {0x8c, "VMEXIT_MWAIT_CONDITIONAL"},
    {0x8d, "VMEXIT_XSETBV"},       {0x8e, "VMEXIT_RDPRU"},        {0x8f, "VMEXIT_EFER_WRITE_TRAP"},
    {0xa0, "VMEXIT_INVLPGB"},      {0xa1, "VMEXIT_INVLPGB_ILLEGAL"}, {0xa2, "VMEXIT_INVPCID"},
    {0xa3, "VMEXIT_MCOMMIT"},      {0xa4, "VMEXIT_TLBSYNC"},      {0x400, "VMEXIT_NPF"},
    {0x401, "VMEXIT_AVIC_INCOMPLETE_IPI"}, {0x402, "VMEXIT_AVIC_NOACCEL"}, {0x403, "VMEXIT_VMGEXIT"},
    {~uint64_t{0}, "VMEXIT_INVALID"}, {~uint64_t{0} - 1, "VMEXIT_BUSY"},
};

}  // namespace

const char* exit_code_name(uint64_t exit_code, char (&buffer)[24]) {
    if (exit_code < 0x10) {
        format(buffer, sizeof buffer, "VMEXIT_CR%u_READ", static_cast<unsigned>(exit_code));
        return buffer;
    }
    if (exit_code < 0x20) {
        format(buffer, sizeof buffer, "VMEXIT_CR%u_WRITE", static_cast<unsigned>(exit_code - 0x10));
        return buffer;
    }
    if (exit_code < 0x30) {
        format(buffer, sizeof buffer, "VMEXIT_DR%u_READ", static_cast<unsigned>(exit_code - 0x20));
        return buffer;
    }
    if (exit_code < 0x40) {
        format(buffer, sizeof buffer, "VMEXIT_DR%u_WRITE", static_cast<unsigned>(exit_code - 0x30));
        return buffer;
    }
    if (exit_code < 0x60) {
        format(buffer, sizeof buffer, "VMEXIT_EXCP%u", static_cast<unsigned>(exit_code - 0x40));
        return buffer;
    }
    if (exit_code >= 0x90 && exit_code < 0xa0) {
        format(buffer, sizeof buffer, "VMEXIT_CR%u_WRITE_TRAP", static_cast<unsigned>(exit_code - 0x90));
        return buffer;
    }
    for (const NamedExit& named : named_exits)
        if (named.code == exit_code) return named.name;
    return "VMEXIT_UNKNOWN";
}

}  // namespace sluice::x86::svm
