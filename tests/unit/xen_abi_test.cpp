// Values of Xen's public ABI that must never drift, checked against tables
// written here from the documentation (the hypercall list of
// xen/include/public/xen.h, errno.h, elfnote.h and the byte-offset table of
// arch-x86/hvm/start_info.h), not derived from include/public/.
#include <gtest/gtest.h>

#include <public/callback.hpp>
#include <public/elfnote.hpp>
#include <public/errno.hpp>
#include <public/event_channel.hpp>
#include <public/hvm_start_info.hpp>
#include <public/memory.hpp>
#include <public/sched.hpp>
#include <public/vcpu.hpp>
#include <public/version.hpp>
#include <public/xen.hpp>

#include <cstring>

namespace {

namespace xen = sluice::xen;

struct NamedNumber {
    const char* name;
    uint64_t header_value;
    uint64_t documented_value;
};

void expect_all_match(const NamedNumber* table, size_t count) {
    for (size_t index = 0; index < count; ++index) {
        EXPECT_EQ(table[index].header_value, table[index].documented_value) << table[index].name;
    }
}

TEST(XenAbi, HypercallNumbersMatchTheDocumentedList) {
    const NamedNumber hypercalls[] = {
        {"set_trap_table", xen::HYPERVISOR_set_trap_table, 0},
        {"mmu_update", xen::HYPERVISOR_mmu_update, 1},
        {"set_gdt", xen::HYPERVISOR_set_gdt, 2},
        {"stack_switch", xen::HYPERVISOR_stack_switch, 3},
        {"set_callbacks", xen::HYPERVISOR_set_callbacks, 4},
        {"fpu_taskswitch", xen::HYPERVISOR_fpu_taskswitch, 5},
        {"sched_op_compat", xen::HYPERVISOR_sched_op_compat, 6},
        {"platform_op", xen::HYPERVISOR_platform_op, 7},
        {"set_debugreg", xen::HYPERVISOR_set_debugreg, 8},
        {"get_debugreg", xen::HYPERVISOR_get_debugreg, 9},
        {"update_descriptor", xen::HYPERVISOR_update_descriptor, 10},
        {"memory_op", xen::HYPERVISOR_memory_op, 12},
        {"multicall", xen::HYPERVISOR_multicall, 13},
        {"update_va_mapping", xen::HYPERVISOR_update_va_mapping, 14},
        {"set_timer_op", xen::HYPERVISOR_set_timer_op, 15},
        {"event_channel_op_compat", xen::HYPERVISOR_event_channel_op_compat, 16},
        {"xen_version", xen::HYPERVISOR_xen_version, 17},
        {"console_io", xen::HYPERVISOR_console_io, 18},
        {"physdev_op_compat", xen::HYPERVISOR_physdev_op_compat, 19},
        {"grant_table_op", xen::HYPERVISOR_grant_table_op, 20},
        {"vm_assist", xen::HYPERVISOR_vm_assist, 21},
        {"update_va_mapping_otherdomain", xen::HYPERVISOR_update_va_mapping_otherdomain, 22},
        {"iret", xen::HYPERVISOR_iret, 23},
        {"vcpu_op", xen::HYPERVISOR_vcpu_op, 24},
        {"set_segment_base", xen::HYPERVISOR_set_segment_base, 25},
        {"mmuext_op", xen::HYPERVISOR_mmuext_op, 26},
        {"xsm_op", xen::HYPERVISOR_xsm_op, 27},
        {"nmi_op", xen::HYPERVISOR_nmi_op, 28},
        {"sched_op", xen::HYPERVISOR_sched_op, 29},
        {"callback_op", xen::HYPERVISOR_callback_op, 30},
        {"xenoprof_op", xen::HYPERVISOR_xenoprof_op, 31},
        {"event_channel_op", xen::HYPERVISOR_event_channel_op, 32},
        {"physdev_op", xen::HYPERVISOR_physdev_op, 33},
        {"hvm_op", xen::HYPERVISOR_hvm_op, 34},
        {"sysctl", xen::HYPERVISOR_sysctl, 35},
        {"domctl", xen::HYPERVISOR_domctl, 36},
        {"kexec_op", xen::HYPERVISOR_kexec_op, 37},
        {"tmem_op", xen::HYPERVISOR_tmem_op, 38},
        {"argo_op", xen::HYPERVISOR_argo_op, 39},
        {"xenpmu_op", xen::HYPERVISOR_xenpmu_op, 40},
        {"dm_op", xen::HYPERVISOR_dm_op, 41},
        {"hypfs_op", xen::HYPERVISOR_hypfs_op, 42},
        {"arch_0", xen::HYPERVISOR_arch_0, 48},
        {"arch_7", xen::HYPERVISOR_arch_7, 55},
    };
    expect_all_match(hypercalls, sizeof hypercalls / sizeof hypercalls[0]);
}

TEST(XenAbi, SubcommandNumbersMatchTheDocumentation) {
    const NamedNumber commands[] = {
        {"MMU_NORMAL_PT_UPDATE", xen::MMU_NORMAL_PT_UPDATE, 0},
        {"MMU_MACHPHYS_UPDATE", xen::MMU_MACHPHYS_UPDATE, 1},
        {"MMU_PT_UPDATE_PRESERVE_AD", xen::MMU_PT_UPDATE_PRESERVE_AD, 2},
        {"MMU_PT_UPDATE_NO_TRANSLATE", xen::MMU_PT_UPDATE_NO_TRANSLATE, 3},
        {"MMUEXT_PIN_L4_TABLE", xen::MMUEXT_PIN_L4_TABLE, 3},
        {"MMUEXT_UNPIN_TABLE", xen::MMUEXT_UNPIN_TABLE, 4},
        {"MMUEXT_NEW_BASEPTR", xen::MMUEXT_NEW_BASEPTR, 5},
        {"MMUEXT_TLB_FLUSH_LOCAL", xen::MMUEXT_TLB_FLUSH_LOCAL, 6},
        {"MMUEXT_INVLPG_LOCAL", xen::MMUEXT_INVLPG_LOCAL, 7},
        {"MMUEXT_SET_LDT", xen::MMUEXT_SET_LDT, 13},
        {"MMUEXT_NEW_USER_BASEPTR", xen::MMUEXT_NEW_USER_BASEPTR, 15},
        {"MMUEXT_UNMARK_SUPER", xen::MMUEXT_UNMARK_SUPER, 20},
        {"UVMF_INVLPG", xen::UVMF_INVLPG, 2},
        {"UVMF_ALL", xen::UVMF_ALL, 4},
        {"SCHEDOP_block", xen::SCHEDOP_block, 1},
        {"SCHEDOP_shutdown", xen::SCHEDOP_shutdown, 2},
        {"SCHEDOP_poll", xen::SCHEDOP_poll, 3},
        {"SHUTDOWN_crash", xen::SHUTDOWN_crash, 3},
        {"EVTCHNOP_bind_virq", xen::EVTCHNOP_bind_virq, 1},
        {"EVTCHNOP_send", xen::EVTCHNOP_send, 4},
        {"EVTCHNOP_alloc_unbound", xen::EVTCHNOP_alloc_unbound, 6},
        {"EVTCHNOP_bind_ipi", xen::EVTCHNOP_bind_ipi, 7},
        {"EVTCHNOP_unmask", xen::EVTCHNOP_unmask, 9},
        {"VCPUOP_set_singleshot_timer", xen::VCPUOP_set_singleshot_timer, 8},
        {"VCPUOP_register_vcpu_info", xen::VCPUOP_register_vcpu_info, 10},
        {"CALLBACKTYPE_syscall", xen::CALLBACKTYPE_syscall, 2},
        {"CALLBACKTYPE_nmi", xen::CALLBACKTYPE_nmi, 4},
        {"XENMEM_populate_physmap", xen::XENMEM_populate_physmap, 6},
        {"XENMEM_memory_map", xen::XENMEM_memory_map, 9},
        {"XENMEM_machine_memory_map", xen::XENMEM_machine_memory_map, 10},
        {"XENVER_get_features", xen::XENVER_get_features, 6},
        {"VIRQ_TIMER", xen::VIRQ_TIMER, 0},
        {"VIRQ_CONSOLE", xen::VIRQ_CONSOLE, 2},
        {"DOMID_SELF", xen::DOMID_SELF, 0x7ff0},
        {"DOMID_IO", xen::DOMID_IO, 0x7ff1},
        {"SIF_INITDOMAIN", xen::SIF_INITDOMAIN, 2},
        {"VGCF_in_syscall", xen::VGCF_in_syscall, 0x100},
    };
    expect_all_match(commands, sizeof commands / sizeof commands[0]);
}

TEST(XenAbi, ErrnoValuesAreLinuxX86Values) {
    const NamedNumber errors[] = {
        {"EPERM", static_cast<uint64_t>(xen::XEN_EPERM), 1},
        {"ENOENT", static_cast<uint64_t>(xen::XEN_ENOENT), 2},
        {"ESRCH", static_cast<uint64_t>(xen::XEN_ESRCH), 3},
        {"EAGAIN", static_cast<uint64_t>(xen::XEN_EAGAIN), 11},
        {"ENOMEM", static_cast<uint64_t>(xen::XEN_ENOMEM), 12},
        {"EACCES", static_cast<uint64_t>(xen::XEN_EACCES), 13},
        {"EFAULT", static_cast<uint64_t>(xen::XEN_EFAULT), 14},
        {"EBUSY", static_cast<uint64_t>(xen::XEN_EBUSY), 16},
        {"EEXIST", static_cast<uint64_t>(xen::XEN_EEXIST), 17},
        {"EINVAL", static_cast<uint64_t>(xen::XEN_EINVAL), 22},
        {"ENOSPC", static_cast<uint64_t>(xen::XEN_ENOSPC), 28},
        {"ERANGE", static_cast<uint64_t>(xen::XEN_ERANGE), 34},
        {"ENOSYS", static_cast<uint64_t>(xen::XEN_ENOSYS), 38},
        {"ETIME", static_cast<uint64_t>(xen::XEN_ETIME), 62},
        {"EOPNOTSUPP", static_cast<uint64_t>(xen::XEN_EOPNOTSUPP), 95},
        {"ENOBUFS", static_cast<uint64_t>(xen::XEN_ENOBUFS), 105},
    };
    expect_all_match(errors, sizeof errors / sizeof errors[0]);
}

TEST(XenAbi, ElfNoteTypesMatchElfnoteH) {
    const NamedNumber notes[] = {
        {"ENTRY", xen::XEN_ELFNOTE_ENTRY, 1},
        {"HYPERCALL_PAGE", xen::XEN_ELFNOTE_HYPERCALL_PAGE, 2},
        {"VIRT_BASE", xen::XEN_ELFNOTE_VIRT_BASE, 3},
        {"PADDR_OFFSET", xen::XEN_ELFNOTE_PADDR_OFFSET, 4},
        {"GUEST_OS", xen::XEN_ELFNOTE_GUEST_OS, 6},
        {"LOADER", xen::XEN_ELFNOTE_LOADER, 8},
        {"FEATURES", xen::XEN_ELFNOTE_FEATURES, 10},
        {"HV_START_LOW", xen::XEN_ELFNOTE_HV_START_LOW, 12},
        {"INIT_P2M", xen::XEN_ELFNOTE_INIT_P2M, 15},
        {"MOD_START_PFN", xen::XEN_ELFNOTE_MOD_START_PFN, 16},
        {"SUPPORTED_FEATURES", xen::XEN_ELFNOTE_SUPPORTED_FEATURES, 17},
        {"PHYS32_ENTRY", xen::XEN_ELFNOTE_PHYS32_ENTRY, 18},
        {"PVH_RELOCATION", xen::XEN_ELFNOTE_PVH_RELOCATION, 19},
    };
    expect_all_match(notes, sizeof notes / sizeof notes[0]);
    EXPECT_STREQ(xen::XEN_ELFNOTE_NAME, "Xen");
}

TEST(XenAbi, AddressSpaceAndSelectorsOfX86_64) {
    EXPECT_EQ(xen::FLAT_RING3_CS32, 0xe023);
    EXPECT_EQ(xen::FLAT_RING3_CS64, 0xe033);
    EXPECT_EQ(xen::FLAT_RING3_DS32, 0xe02b);
    EXPECT_EQ(xen::FLAT_RING3_SS64, 0xe02b);
    EXPECT_EQ(xen::FLAT_RING3_DS64, 0);
    EXPECT_EQ(xen::FLAT_KERNEL_CS, 0xe033);
    EXPECT_EQ(xen::FLAT_KERNEL_SS, 0xe02b);
    EXPECT_EQ(xen::HYPERVISOR_VIRT_START, 0xffff800000000000ull);
    EXPECT_EQ(xen::HYPERVISOR_VIRT_END, 0xffff880000000000ull);
    EXPECT_EQ(xen::MACH2PHYS_VIRT_START, 0xffff800000000000ull);
    EXPECT_EQ(xen::MACH2PHYS_VIRT_END, 0xffff804000000000ull);
    EXPECT_EQ(xen::FIRST_RESERVED_GDT_PAGE, 14u);
    EXPECT_EQ(xen::FIRST_RESERVED_GDT_BYTE, 14u * 4096);
    EXPECT_EQ(xen::FIRST_RESERVED_GDT_ENTRY, 14u * 4096 / 8);
    EXPECT_EQ(xen::XEN_LEGACY_MAX_VCPUS, 32u);
    EXPECT_EQ(xen::XEN_HVM_START_MAGIC_VALUE, 0x336ec578u);
}

// trap_info.flags: bits 1:0 are the DPL, bit 2 masks events on entry
// (arch-x86/xen.h).
TEST(XenAbi, TrapInfoFlagHelpersFollowTheHeaderSemantics) {
    xen::trap_info trap{};
    trap.flags = 0x7;
    EXPECT_EQ(xen::TI_GET_DPL(trap), 3);
    EXPECT_TRUE(xen::TI_GET_IF(trap));
    trap.flags = 0x1;
    EXPECT_EQ(xen::TI_GET_DPL(trap), 1);
    EXPECT_FALSE(xen::TI_GET_IF(trap));
    trap.flags = 0x4;
    EXPECT_EQ(xen::TI_GET_DPL(trap), 0);
    EXPECT_TRUE(xen::TI_GET_IF(trap));

    xen::trap_info built{};
    xen::TI_SET_DPL(built, 3);
    xen::TI_SET_IF(built, true);
    EXPECT_EQ(built.flags, 0x7);
}

// Writes little-endian values at the byte offsets start_info.h documents and
// reads them back through the structure.
void put32(uint8_t* bytes, size_t offset, uint32_t value) {
    for (size_t index = 0; index < 4; ++index) bytes[offset + index] = static_cast<uint8_t>(value >> (8 * index));
}
void put64(uint8_t* bytes, size_t offset, uint64_t value) {
    for (size_t index = 0; index < 8; ++index) bytes[offset + index] = static_cast<uint8_t>(value >> (8 * index));
}

TEST(XenAbi, HvmStartInfoMatchesTheDocumentedByteOffsets) {
    uint8_t bytes[56] = {};
    put32(bytes, 0, 0x336ec578);             // magic
    put32(bytes, 4, 1);                      // version
    put32(bytes, 8, 0x11);                   // flags
    put32(bytes, 12, 2);                     // nr_modules
    put64(bytes, 16, 0x1122334455667788);    // modlist_paddr
    put64(bytes, 24, 0x2000);                // cmdline_paddr
    put64(bytes, 32, 0xe0000);               // rsdp_paddr
    put64(bytes, 40, 0x3000);                // memmap_paddr
    put32(bytes, 48, 7);                     // memmap_entries
    ASSERT_EQ(sizeof(xen::hvm_start_info), sizeof bytes);

    xen::hvm_start_info info;
    std::memcpy(&info, bytes, sizeof info);
    EXPECT_EQ(info.magic, xen::XEN_HVM_START_MAGIC_VALUE);
    EXPECT_EQ(info.version, 1u);
    EXPECT_EQ(info.flags, 0x11u);
    EXPECT_EQ(info.nr_modules, 2u);
    EXPECT_EQ(info.modlist_paddr, 0x1122334455667788u);
    EXPECT_EQ(info.cmdline_paddr, 0x2000u);
    EXPECT_EQ(info.rsdp_paddr, 0xe0000u);
    EXPECT_EQ(info.memmap_paddr, 0x3000u);
    EXPECT_EQ(info.memmap_entries, 7u);
    EXPECT_EQ(info.reserved, 0u);

    uint8_t module_bytes[32] = {};
    put64(module_bytes, 0, 0x100000);  // paddr
    put64(module_bytes, 8, 0x4000);    // size
    put64(module_bytes, 16, 0x5000);   // cmdline_paddr
    xen::hvm_modlist_entry module;
    ASSERT_EQ(sizeof module, sizeof module_bytes);
    std::memcpy(&module, module_bytes, sizeof module);
    EXPECT_EQ(module.paddr, 0x100000u);
    EXPECT_EQ(module.size, 0x4000u);
    EXPECT_EQ(module.cmdline_paddr, 0x5000u);

    uint8_t entry_bytes[24] = {};
    put64(entry_bytes, 0, 0x100000);  // addr
    put64(entry_bytes, 8, 0x7ff00000);
    put32(entry_bytes, 16, 1);  // type RAM
    xen::hvm_memmap_table_entry entry;
    ASSERT_EQ(sizeof entry, sizeof entry_bytes);
    std::memcpy(&entry, entry_bytes, sizeof entry);
    EXPECT_EQ(entry.addr, 0x100000u);
    EXPECT_EQ(entry.size, 0x7ff00000u);
    EXPECT_EQ(entry.type, xen::XEN_HVM_MEMMAP_TYPE_RAM);
}

// The BIOS E820 descriptor XENMEM_memory_map returns: base, length, type,
// packed into 20 bytes.
TEST(XenAbi, E820EntryIsTheTwentyByteBiosDescriptor) {
    uint8_t bytes[40] = {};
    put64(bytes, 0, 0x9f000);
    put64(bytes, 8, 0x1000);
    put32(bytes, 16, 2);
    put64(bytes, 20, 0x100000);
    put64(bytes, 28, 0x3ff00000);
    put32(bytes, 36, 1);
    xen::e820entry entries[2];
    ASSERT_EQ(sizeof entries, sizeof bytes);
    std::memcpy(entries, bytes, sizeof entries);
    // The second entry's 64-bit fields are only 4-byte aligned: they are read
    // into values (EXPECT_EQ would bind a misaligned reference, which UBSan
    // reports).
    const uint64_t first_address = entries[0].addr;
    const uint32_t first_type = entries[0].type;
    const uint64_t second_address = entries[1].addr;
    const uint64_t second_size = entries[1].size;
    const uint32_t second_type = entries[1].type;
    EXPECT_EQ(first_address, 0x9f000u);
    EXPECT_EQ(first_type, xen::E820_RESERVED);
    EXPECT_EQ(second_address, 0x100000u);
    EXPECT_EQ(second_size, 0x3ff00000u);
    EXPECT_EQ(second_type, xen::E820_RAM);
}

// Sizes a guest kernel compiled against Xen's headers sees on x86-64.
TEST(XenAbi, StructureSizesAGuestSees) {
    EXPECT_EQ(sizeof(xen::vcpu_info), 64u);
    EXPECT_EQ(sizeof(xen::vcpu_time_info), 32u);
    EXPECT_EQ(sizeof(xen::trap_info), 16u);
    EXPECT_EQ(sizeof(xen::mmu_update), 16u);
    EXPECT_EQ(sizeof(xen::mmuext_op), 24u);
    EXPECT_EQ(sizeof(xen::multicall_entry), 8u * 8);  // op, result, args[6]
    EXPECT_EQ(sizeof(xen::iret_context), 9u * 8);
    EXPECT_EQ(sizeof(xen::hvm_start_info), 56u);
    EXPECT_EQ(sizeof(xen::callback_register), 16u);
    EXPECT_EQ(sizeof(xen::evtchn_bind_virq), 12u);
    EXPECT_EQ(sizeof(xen::vcpu_register_vcpu_info), 16u);
    EXPECT_EQ(sizeof(xen::xen_feature_info), 8u);
    EXPECT_LE(sizeof(xen::shared_info), 4096u);
    EXPECT_LE(sizeof(xen::start_info), 4096u);
}

}  // namespace
