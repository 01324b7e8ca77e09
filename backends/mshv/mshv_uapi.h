/* SPDX-License-Identifier: MIT */
/*
 * The part of the /dev/mshv interface this backend uses, written down here
 * because Debian 12's kernel headers predate it. Every name is prefixed
 * (NUB_MSHV_ / nub_mshv_ / nub_hv_) so this header can sit next to the real
 * <linux/mshv.h>; with -DNUB_MSHV_USE_SYSTEM_HEADER it includes that header
 * and asserts that both agree.
 *
 * Sources (facts only; the layouts below are re-typed from them):
 *   [uapi]   Linux include/uapi/linux/mshv.h
 *   [gdk]    Linux include/hyperv/hvgdk_mini.h
 *   [hdk]    Linux include/hyperv/hvhdk.h
 *   [hdkm]   Linux include/hyperv/hvhdk_mini.h
 *   [drv]    Linux drivers/hv/mshv_root_main.c (argument checks)
 *   [rvmm]   rust-vmm/mshv hv-headers/hvgdk_mini.h and hv-headers/hvhdk.h: the
 *            full hypervisor headers, for the x64 register names, the FP
 *            control registers and the x64 intercept message layouts that
 *            mainline Linux does not (yet) carry.
 */
#ifndef NUB_MSHV_UAPI_H
#define NUB_MSHV_UAPI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

/* ---- [uapi] /dev/mshv ioctls and their arguments ---- */

/* [uapi] #define MSHV_IOCTL 0xB8 */
#define NUB_MSHV_IOCTL_TYPE 0xB8

/* [uapi] enum { MSHV_PT_BIT_LAPIC, MSHV_PT_BIT_X2APIC, MSHV_PT_BIT_GPA_SUPER_PAGES,
 * MSHV_PT_BIT_COUNT } and MSHV_PT_FLAGS_MASK */
#define NUB_MSHV_PT_BIT_LAPIC           0
#define NUB_MSHV_PT_BIT_X2APIC          1
#define NUB_MSHV_PT_BIT_GPA_SUPER_PAGES 2
#define NUB_MSHV_PT_BIT_COUNT           3
#define NUB_MSHV_PT_FLAGS_MASK          ((1u << NUB_MSHV_PT_BIT_COUNT) - 1)
/* [uapi] enum { MSHV_PT_ISOLATION_NONE, MSHV_PT_ISOLATION_COUNT } */
#define NUB_MSHV_PT_ISOLATION_NONE  0
#define NUB_MSHV_PT_ISOLATION_COUNT 1

/* [uapi] struct mshv_create_partition */
struct nub_mshv_create_partition {
	uint64_t pt_flags;
	uint64_t pt_isolation;
};
_Static_assert(sizeof(struct nub_mshv_create_partition) == 16, "mshv_create_partition size");
_Static_assert(offsetof(struct nub_mshv_create_partition, pt_isolation) == 8,
               "mshv_create_partition.pt_isolation");

/* [uapi] struct mshv_create_vp */
struct nub_mshv_create_vp {
	uint32_t vp_index;
};
_Static_assert(sizeof(struct nub_mshv_create_vp) == 4, "mshv_create_vp size");

/* [uapi] enum { MSHV_SET_MEM_BIT_WRITABLE, MSHV_SET_MEM_BIT_EXECUTABLE,
 * MSHV_SET_MEM_BIT_UNMAP, MSHV_SET_MEM_BIT_COUNT } and MSHV_SET_MEM_FLAGS_MASK */
#define NUB_MSHV_SET_MEM_BIT_WRITABLE   0
#define NUB_MSHV_SET_MEM_BIT_EXECUTABLE 1
#define NUB_MSHV_SET_MEM_BIT_UNMAP      2
#define NUB_MSHV_SET_MEM_BIT_COUNT      3
#define NUB_MSHV_SET_MEM_FLAGS_MASK     ((1u << NUB_MSHV_SET_MEM_BIT_COUNT) - 1)
/* [uapi] #define MSHV_HV_PAGE_SIZE 0x1000 */
#define NUB_MSHV_HV_PAGE_SIZE 0x1000u

/* [uapi] struct mshv_user_mem_region: size and userspace_addr page-aligned,
 * rsvd must be zero ([drv] mshv_partition_ioctl_set_memory). */
struct nub_mshv_user_mem_region {
	uint64_t size;
	uint64_t guest_pfn;
	uint64_t userspace_addr;
	uint8_t flags;
	uint8_t rsvd[7];
};
_Static_assert(sizeof(struct nub_mshv_user_mem_region) == 32, "mshv_user_mem_region size");
_Static_assert(offsetof(struct nub_mshv_user_mem_region, guest_pfn) == 8, "guest_pfn");
_Static_assert(offsetof(struct nub_mshv_user_mem_region, userspace_addr) == 16, "userspace_addr");
_Static_assert(offsetof(struct nub_mshv_user_mem_region, flags) == 24, "flags");
_Static_assert(offsetof(struct nub_mshv_user_mem_region, rsvd) == 25, "rsvd");

/* [uapi] struct mshv_root_hvcall. [drv] mshv_ioctl_passthru_hvcall: status
 * and rsvd must be zero on input, in_ptr non-NULL, 8 <= in_sz <= 4096,
 * out_sz in 1..4096 when out_ptr is set; the kernel overwrites the first u64
 * of the input (partition id). */
struct nub_mshv_root_hvcall {
	uint16_t code;
	uint16_t reps;
	uint16_t in_sz;
	uint16_t out_sz;
	uint16_t status;
	uint8_t rsvd[6];
	uint64_t in_ptr;
	uint64_t out_ptr;
};
_Static_assert(sizeof(struct nub_mshv_root_hvcall) == 32, "mshv_root_hvcall size");
_Static_assert(offsetof(struct nub_mshv_root_hvcall, status) == 8, "mshv_root_hvcall.status");
_Static_assert(offsetof(struct nub_mshv_root_hvcall, rsvd) == 10, "mshv_root_hvcall.rsvd");
_Static_assert(offsetof(struct nub_mshv_root_hvcall, in_ptr) == 16, "mshv_root_hvcall.in_ptr");
_Static_assert(offsetof(struct nub_mshv_root_hvcall, out_ptr) == 24, "mshv_root_hvcall.out_ptr");

/* [uapi] #define MSHV_RUN_VP_BUF_SZ 256, struct mshv_run_vp */
#define NUB_MSHV_RUN_VP_BUF_SZ 256
struct nub_mshv_run_vp {
	uint8_t msg_buf[NUB_MSHV_RUN_VP_BUF_SZ];
};
_Static_assert(sizeof(struct nub_mshv_run_vp) == 256, "mshv_run_vp size");

/* [uapi] ioctl numbers. /dev/mshv: */
#define NUB_MSHV_CREATE_PARTITION _IOW(NUB_MSHV_IOCTL_TYPE, 0x00, struct nub_mshv_create_partition)
/* partition fd: */
#define NUB_MSHV_INITIALIZE_PARTITION _IO(NUB_MSHV_IOCTL_TYPE, 0x00)
#define NUB_MSHV_CREATE_VP            _IOW(NUB_MSHV_IOCTL_TYPE, 0x01, struct nub_mshv_create_vp)
#define NUB_MSHV_SET_GUEST_MEMORY     _IOW(NUB_MSHV_IOCTL_TYPE, 0x02, struct nub_mshv_user_mem_region)
/* partition and VP fds: */
#define NUB_MSHV_ROOT_HVCALL _IOWR(NUB_MSHV_IOCTL_TYPE, 0x07, struct nub_mshv_root_hvcall)
/* VP fd: */
#define NUB_MSHV_RUN_VP _IOR(NUB_MSHV_IOCTL_TYPE, 0x00, struct nub_mshv_run_vp)

/* The encoded values, written out so a typo in a struct above cannot move
 * them silently (dir<<30 | size<<16 | type<<8 | nr on x86-64). */
_Static_assert(NUB_MSHV_CREATE_PARTITION == 0x4010B800u, "MSHV_CREATE_PARTITION");
_Static_assert(NUB_MSHV_INITIALIZE_PARTITION == 0x0000B800u, "MSHV_INITIALIZE_PARTITION");
_Static_assert(NUB_MSHV_CREATE_VP == 0x4004B801u, "MSHV_CREATE_VP");
_Static_assert(NUB_MSHV_SET_GUEST_MEMORY == 0x4020B802u, "MSHV_SET_GUEST_MEMORY");
_Static_assert(NUB_MSHV_ROOT_HVCALL == 0xC020B807u, "MSHV_ROOT_HVCALL");
_Static_assert(NUB_MSHV_RUN_VP == 0x8100B800u, "MSHV_RUN_VP");

/* ---- [gdk] hypercalls and status codes ---- */

/* [gdk] HV_CALL_CODE */
#define NUB_HVCALL_GET_VP_REGISTERS       0x0050
#define NUB_HVCALL_SET_VP_REGISTERS       0x0051
#define NUB_HVCALL_SET_PARTITION_PROPERTY 0x0045

/* [gdk] HV_STATUS_* (the subset this backend and its fake use) */
#define NUB_HV_STATUS_SUCCESS                 0x0
#define NUB_HV_STATUS_INVALID_HYPERCALL_INPUT 0x3
#define NUB_HV_STATUS_INVALID_PARAMETER       0x5
#define NUB_HV_STATUS_INVALID_PARTITION_STATE 0x7
#define NUB_HV_STATUS_INVALID_VP_INDEX        0xE

/* [hdkm] enum hv_partition_property_code: HV_PARTITION_PROPERTY_SYNTHETIC_PROC_FEATURES */
#define NUB_HV_PARTITION_PROPERTY_SYNTHETIC_PROC_FEATURES 0x00010001u

/* [hdk] struct hv_input_set_partition_property */
struct nub_hv_input_set_partition_property {
	uint64_t partition_id;
	uint32_t property_code;
	uint32_t padding;
	uint64_t property_value;
};
_Static_assert(sizeof(struct nub_hv_input_set_partition_property) == 24,
               "hv_input_set_partition_property size");

/* [gdk] struct hv_u128 (packed, 16 bytes) */
struct nub_hv_u128 {
	uint64_t low_part;
	uint64_t high_part;
};

/* [gdk] struct hv_x64_segment_register (packed, 16 bytes). attributes bits:
 * 0-3 segment_type, 4 non_system_segment, 5-6 dpl, 7 present, 8-11 reserved,
 * 12 available, 13 long, 14 default (D/B), 15 granularity. */
struct nub_hv_x64_segment_register {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint16_t attributes;
};
_Static_assert(sizeof(struct nub_hv_x64_segment_register) == 16, "hv_x64_segment_register");
#define NUB_HV_SEG_TYPE_SHIFT    0
#define NUB_HV_SEG_S_SHIFT       4
#define NUB_HV_SEG_DPL_SHIFT     5
#define NUB_HV_SEG_PRESENT_SHIFT 7
#define NUB_HV_SEG_AVL_SHIFT     12
#define NUB_HV_SEG_L_SHIFT       13
#define NUB_HV_SEG_DB_SHIFT      14
#define NUB_HV_SEG_G_SHIFT       15

/* [gdk] struct hv_x64_table_register (packed, 16 bytes) */
struct nub_hv_x64_table_register {
	uint16_t pad[3];
	uint16_t limit;
	uint64_t base;
};
_Static_assert(sizeof(struct nub_hv_x64_table_register) == 16, "hv_x64_table_register");
_Static_assert(offsetof(struct nub_hv_x64_table_register, limit) == 6, "table.limit");

/* [rvmm] union hv_x64_fp_control_status_register (long-mode view) */
struct nub_hv_x64_fp_control_status {
	uint16_t fp_control;
	uint16_t fp_status;
	uint8_t fp_tag;
	uint8_t reserved;
	uint16_t last_fp_op;
	uint64_t last_fp_rip;
};
_Static_assert(sizeof(struct nub_hv_x64_fp_control_status) == 16, "fp_control_status size");
_Static_assert(offsetof(struct nub_hv_x64_fp_control_status, last_fp_op) == 6, "last_fp_op");

/* [rvmm] union hv_x64_xmm_control_status_register (long-mode view) */
struct nub_hv_x64_xmm_control_status {
	uint64_t last_fp_rdp;
	uint32_t xmm_status_control;
	uint32_t xmm_status_control_mask;
};
_Static_assert(sizeof(struct nub_hv_x64_xmm_control_status) == 16, "xmm_control_status size");

/* [gdk] union hv_register_value (16 bytes) */
union nub_hv_register_value {
	struct nub_hv_u128 reg128;
	uint64_t reg64;
	struct nub_hv_x64_segment_register segment;
	struct nub_hv_x64_table_register table;
	struct nub_hv_x64_fp_control_status fp_control_status;
	struct nub_hv_x64_xmm_control_status xmm_control_status;
};
_Static_assert(sizeof(union nub_hv_register_value) == 16, "hv_register_value size");

/* [gdk] struct hv_register_assoc (packed, 32 bytes); reserved fields are zero */
struct nub_hv_register_assoc {
	uint32_t name;
	uint32_t reserved1;
	uint64_t reserved2;
	union nub_hv_register_value value;
};
_Static_assert(sizeof(struct nub_hv_register_assoc) == 32, "hv_register_assoc size");
_Static_assert(offsetof(struct nub_hv_register_assoc, value) == 16, "hv_register_assoc.value");

/* [gdk] struct hv_input_get_vp_registers / hv_input_set_vp_registers: a
 * 16-byte header followed by u32 names[] or hv_register_assoc elements[]. */
struct nub_hv_input_vp_registers_hdr {
	uint64_t partition_id;
	uint32_t vp_index;
	uint8_t input_vtl;
	uint8_t rsvd_z8;
	uint16_t rsvd_z16;
};
_Static_assert(sizeof(struct nub_hv_input_vp_registers_hdr) == 16, "hv_input_*_vp_registers hdr");

/* [rvmm] enum hv_register_name, x86-64 part */
enum nub_hv_register_name {
	NUB_HV_X64_REGISTER_RAX = 0x00020000,
	NUB_HV_X64_REGISTER_RCX = 0x00020001,
	NUB_HV_X64_REGISTER_RDX = 0x00020002,
	NUB_HV_X64_REGISTER_RBX = 0x00020003,
	NUB_HV_X64_REGISTER_RSP = 0x00020004,
	NUB_HV_X64_REGISTER_RBP = 0x00020005,
	NUB_HV_X64_REGISTER_RSI = 0x00020006,
	NUB_HV_X64_REGISTER_RDI = 0x00020007,
	NUB_HV_X64_REGISTER_R8 = 0x00020008, /* R9..R15 follow: 0x00020009..0x0002000F */
	NUB_HV_X64_REGISTER_RIP = 0x00020010,
	NUB_HV_X64_REGISTER_RFLAGS = 0x00020011,
	NUB_HV_X64_REGISTER_XMM0 = 0x00030000,    /* XMM1..XMM15: +1..+15 */
	NUB_HV_X64_REGISTER_FP_MMX0 = 0x00030010, /* FP_MMX1..7: +1..+7 */
	NUB_HV_X64_REGISTER_FP_CONTROL_STATUS = 0x00030018,
	NUB_HV_X64_REGISTER_XMM_CONTROL_STATUS = 0x00030019,
	NUB_HV_X64_REGISTER_CR0 = 0x00040000,
	NUB_HV_X64_REGISTER_CR2 = 0x00040001,
	NUB_HV_X64_REGISTER_CR3 = 0x00040002,
	NUB_HV_X64_REGISTER_CR4 = 0x00040003,
	NUB_HV_X64_REGISTER_CR8 = 0x00040004,
	NUB_HV_X64_REGISTER_ES = 0x00060000,
	NUB_HV_X64_REGISTER_CS = 0x00060001,
	NUB_HV_X64_REGISTER_SS = 0x00060002,
	NUB_HV_X64_REGISTER_DS = 0x00060003,
	NUB_HV_X64_REGISTER_FS = 0x00060004,
	NUB_HV_X64_REGISTER_GS = 0x00060005,
	NUB_HV_X64_REGISTER_LDTR = 0x00060006,
	NUB_HV_X64_REGISTER_TR = 0x00060007,
	NUB_HV_X64_REGISTER_IDTR = 0x00070000,
	NUB_HV_X64_REGISTER_GDTR = 0x00070001,
	NUB_HV_X64_REGISTER_EFER = 0x00080001,
	NUB_HV_X64_REGISTER_APIC_BASE = 0x00080003,
};

/* ---- [gdk]/[rvmm] intercept messages (what MSHV_RUN_VP copies out) ---- */

/* [gdk] enum hv_message_type (subset) */
#define NUB_HVMSG_NONE                      0x00000000u
#define NUB_HVMSG_UNMAPPED_GPA              0x80000000u
#define NUB_HVMSG_GPA_INTERCEPT             0x80000001u
#define NUB_HVMSG_INVALID_VP_REGISTER_VALUE 0x80000020u
#define NUB_HVMSG_UNRECOVERABLE_EXCEPTION   0x80000021u
#define NUB_HVMSG_UNSUPPORTED_FEATURE       0x80000022u
#define NUB_HVMSG_X64_IO_PORT_INTERCEPT     0x80010000u
#define NUB_HVMSG_X64_EXCEPTION_INTERCEPT   0x80010003u
#define NUB_HVMSG_X64_HALT                  0x80010007u
#define NUB_HV_MESSAGE_SIZE                 256
#define NUB_HV_MESSAGE_PAYLOAD_BYTE_COUNT   240

/* [gdk] struct hv_message_header (packed, 16 bytes) */
struct nub_hv_message_header {
	uint32_t message_type;
	uint8_t payload_size;
	uint8_t message_flags;
	uint8_t reserved[2];
	uint64_t sender;
};
_Static_assert(sizeof(struct nub_hv_message_header) == 16, "hv_message_header size");

/* [gdk] struct hv_message (packed, 256 bytes) */
struct nub_hv_message {
	struct nub_hv_message_header header;
	uint8_t payload[NUB_HV_MESSAGE_PAYLOAD_BYTE_COUNT];
};
_Static_assert(sizeof(struct nub_hv_message) == NUB_HV_MESSAGE_SIZE, "hv_message size");
_Static_assert(sizeof(struct nub_hv_message) <= NUB_MSHV_RUN_VP_BUF_SZ, "fits mshv_run_vp");

/* [rvmm] hvhdk.h struct hv_x64_intercept_message_header (packed, 40 bytes).
 * instr_len_cr8: bits 0-3 instruction_length, bits 4-7 cr8. */
struct nub_hv_x64_intercept_message_header {
	uint32_t vp_index;
	uint8_t instr_len_cr8;
	uint8_t intercept_access_type;
	uint16_t execution_state;
	struct nub_hv_x64_segment_register cs_segment;
	uint64_t rip;
	uint64_t rflags;
};
_Static_assert(sizeof(struct nub_hv_x64_intercept_message_header) == 40, "intercept header");
_Static_assert(offsetof(struct nub_hv_x64_intercept_message_header, rip) == 24, "header.rip");
#define NUB_HV_INTERCEPT_INSTR_LEN_MASK 0x0Fu
/* [hdk] union hv_x64_vp_execution_state (execution_state above): bits 0-1
 * cpl, 2 cr0_pe, 3 cr0_am, 4 efer_lma, 5 debug_active, 6
 * interruption_pending, 7-10 vtl, 11 enclave_mode, 12 interrupt_shadow. */
#define NUB_HV_X64_EXEC_STATE_CR0_PE   (1u << 2)
#define NUB_HV_X64_EXEC_STATE_EFER_LMA (1u << 4)
/* [gdk] HV_INTERCEPT_ACCESS_READ/WRITE/EXECUTE */
#define NUB_HV_INTERCEPT_ACCESS_READ    0
#define NUB_HV_INTERCEPT_ACCESS_WRITE   1
#define NUB_HV_INTERCEPT_ACCESS_EXECUTE 2

/* [rvmm] hvhdk.h union hv_x64_io_port_access_info: bits 0-2 access_size
 * (bytes), bit 3 string_op, bit 4 rep_prefix. */
#define NUB_HV_IO_ACCESS_SIZE_MASK 0x07u
#define NUB_HV_IO_STRING_OP        0x08u
#define NUB_HV_IO_REP_PREFIX       0x10u

/* [rvmm] hvhdk.h struct hv_x64_io_port_intercept_message (packed) */
struct nub_hv_x64_io_port_intercept_message {
	struct nub_hv_x64_intercept_message_header header;
	uint16_t port_number;
	uint8_t access_info;
	uint8_t instruction_byte_count;
	uint32_t reserved;
	uint64_t rax;
	uint8_t instruction_bytes[16];
	struct nub_hv_x64_segment_register ds_segment;
	struct nub_hv_x64_segment_register es_segment;
	uint64_t rcx;
	uint64_t rsi;
	uint64_t rdi;
};
_Static_assert(sizeof(struct nub_hv_x64_io_port_intercept_message) == 128, "io port message");
_Static_assert(offsetof(struct nub_hv_x64_io_port_intercept_message, port_number) == 40, "port");
_Static_assert(offsetof(struct nub_hv_x64_io_port_intercept_message, rax) == 48, "io rax");

/* [rvmm] hvhdk.h struct hv_x64_memory_intercept_message (packed); sent for
 * HVMSG_UNMAPPED_GPA and HVMSG_GPA_INTERCEPT. */
struct nub_hv_x64_memory_intercept_message {
	struct nub_hv_x64_intercept_message_header header;
	uint32_t cache_type;
	uint8_t instruction_byte_count;
	uint8_t memory_access_info;
	uint8_t tpr_priority;
	uint8_t reserved1;
	uint64_t guest_virtual_address;
	uint64_t guest_physical_address;
	uint8_t instruction_bytes[16];
};
_Static_assert(sizeof(struct nub_hv_x64_memory_intercept_message) == 80, "memory message");
_Static_assert(offsetof(struct nub_hv_x64_memory_intercept_message, guest_physical_address) == 56,
               "memory message gpa");
_Static_assert(offsetof(struct nub_hv_x64_memory_intercept_message, instruction_byte_count) == 44,
               "memory message instruction_byte_count");
_Static_assert(offsetof(struct nub_hv_x64_memory_intercept_message, instruction_bytes) == 64,
               "memory message instruction_bytes");

_Static_assert(sizeof(struct nub_hv_x64_io_port_intercept_message) <=
                       NUB_HV_MESSAGE_PAYLOAD_BYTE_COUNT,
               "io message fits the payload");

#ifdef NUB_MSHV_USE_SYSTEM_HEADER
/* Cross-check against the installed kernel header: same sizes, same field
 * offsets, same ioctl numbers. */
#include <linux/mshv.h>
#define NUB_MSHV_SAME_LAYOUT(ours, theirs, field)                                                  \
	_Static_assert(offsetof(struct ours, field) == offsetof(struct theirs, field),             \
	               #theirs "." #field)
_Static_assert(sizeof(struct nub_mshv_create_partition) == sizeof(struct mshv_create_partition),
               "mshv_create_partition");
NUB_MSHV_SAME_LAYOUT(nub_mshv_create_partition, mshv_create_partition, pt_isolation);
_Static_assert(sizeof(struct nub_mshv_create_vp) == sizeof(struct mshv_create_vp),
               "mshv_create_vp");
_Static_assert(sizeof(struct nub_mshv_user_mem_region) == sizeof(struct mshv_user_mem_region),
               "mshv_user_mem_region");
NUB_MSHV_SAME_LAYOUT(nub_mshv_user_mem_region, mshv_user_mem_region, guest_pfn);
NUB_MSHV_SAME_LAYOUT(nub_mshv_user_mem_region, mshv_user_mem_region, userspace_addr);
NUB_MSHV_SAME_LAYOUT(nub_mshv_user_mem_region, mshv_user_mem_region, flags);
NUB_MSHV_SAME_LAYOUT(nub_mshv_user_mem_region, mshv_user_mem_region, rsvd);
_Static_assert(sizeof(struct nub_mshv_root_hvcall) == sizeof(struct mshv_root_hvcall),
               "mshv_root_hvcall");
NUB_MSHV_SAME_LAYOUT(nub_mshv_root_hvcall, mshv_root_hvcall, reps);
NUB_MSHV_SAME_LAYOUT(nub_mshv_root_hvcall, mshv_root_hvcall, in_sz);
NUB_MSHV_SAME_LAYOUT(nub_mshv_root_hvcall, mshv_root_hvcall, out_sz);
NUB_MSHV_SAME_LAYOUT(nub_mshv_root_hvcall, mshv_root_hvcall, status);
NUB_MSHV_SAME_LAYOUT(nub_mshv_root_hvcall, mshv_root_hvcall, rsvd);
NUB_MSHV_SAME_LAYOUT(nub_mshv_root_hvcall, mshv_root_hvcall, in_ptr);
NUB_MSHV_SAME_LAYOUT(nub_mshv_root_hvcall, mshv_root_hvcall, out_ptr);
_Static_assert(sizeof(struct nub_mshv_run_vp) == sizeof(struct mshv_run_vp), "mshv_run_vp");
_Static_assert(NUB_MSHV_IOCTL_TYPE == MSHV_IOCTL, "MSHV_IOCTL");
_Static_assert(NUB_MSHV_CREATE_PARTITION == MSHV_CREATE_PARTITION, "MSHV_CREATE_PARTITION");
_Static_assert(NUB_MSHV_INITIALIZE_PARTITION == MSHV_INITIALIZE_PARTITION,
               "MSHV_INITIALIZE_PARTITION");
_Static_assert(NUB_MSHV_CREATE_VP == MSHV_CREATE_VP, "MSHV_CREATE_VP");
_Static_assert(NUB_MSHV_SET_GUEST_MEMORY == MSHV_SET_GUEST_MEMORY, "MSHV_SET_GUEST_MEMORY");
_Static_assert(NUB_MSHV_ROOT_HVCALL == MSHV_ROOT_HVCALL, "MSHV_ROOT_HVCALL");
_Static_assert(NUB_MSHV_RUN_VP == MSHV_RUN_VP, "MSHV_RUN_VP");
_Static_assert(NUB_MSHV_RUN_VP_BUF_SZ == MSHV_RUN_VP_BUF_SZ, "MSHV_RUN_VP_BUF_SZ");
_Static_assert(NUB_MSHV_PT_BIT_LAPIC == MSHV_PT_BIT_LAPIC, "MSHV_PT_BIT_LAPIC");
_Static_assert(NUB_MSHV_PT_ISOLATION_NONE == MSHV_PT_ISOLATION_NONE, "MSHV_PT_ISOLATION_NONE");
_Static_assert(NUB_MSHV_SET_MEM_BIT_WRITABLE == MSHV_SET_MEM_BIT_WRITABLE, "WRITABLE");
_Static_assert(NUB_MSHV_SET_MEM_BIT_EXECUTABLE == MSHV_SET_MEM_BIT_EXECUTABLE, "EXECUTABLE");
_Static_assert(NUB_MSHV_SET_MEM_BIT_UNMAP == MSHV_SET_MEM_BIT_UNMAP, "UNMAP");
_Static_assert(NUB_MSHV_HV_PAGE_SIZE == MSHV_HV_PAGE_SIZE, "MSHV_HV_PAGE_SIZE");
#endif

#endif
