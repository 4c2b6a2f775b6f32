/* SPDX-License-Identifier: MIT */
/*
 * DWARF unwinding of user stacks copied by BPF (what `perf record
 * --call-graph dwarf` does): at a sample the kernel side hands over the
 * user registers and the top of the user stack; this module walks the
 * frames with the call-frame information (CFI) of the ELF files the
 * process has mapped, so code built without frame pointers unwinds.
 *
 * Memory is read from two places only: the stack copy, and the contents
 * of the mapped ELF files (read-only file-backed mappings), never from
 * the live process, which has moved on since the sample.
 *
 * CFI comes from .eh_frame through its .eh_frame_hdr search table, and
 * from .debug_frame where .eh_frame does not cover an address.  A frame
 * whose code is not in an ELF file (JIT code, anonymous executable
 * memory) is stepped by following the frame-pointer chain instead.
 *
 * Per ELF file (keyed by device and inode) the file is mapped and its
 * tables are located once; the register rules found for an address are
 * cached, so repeated samples of the same code cost no CFI parsing (about
 * a microsecond for ten frames).  The vDSO's CFI is taken from loupe's own
 * copy of it, which the kernel maps identically into every process.
 *
 * Thread-safety: one unwinder must not be used from two threads at once;
 * distinct unwinders are independent.
 */
#ifndef LOUPE_UNWIND_DWARF_H
#define LOUPE_UNWIND_DWARF_H

#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

/* x86-64 user registers at the sample. */
struct unwind_regs {
	__u64 ip, sp, bp, bx, r12, r13, r14, r15;
};

struct unwinder;

/*
 * Reads /proc/PID/maps and opens the ELF files mapped executable.  Returns
 * NULL and sets errno on failure (ESRCH when PID does not exist or has no
 * mappings, ENOMEM).  Free with unwinder_free().
 */
struct unwinder *unwinder_new(pid_t pid);

/*
 * Re-reads /proc/PID/maps, e.g. after the target dlopen()ed a library.
 * Costs one read of the maps file when nothing changed; otherwise opens
 * newly mapped files, drops unmapped ones and flushes cached unwind rules.
 * Returns 0 or -errno (-ESRCH when the process is gone; the previous
 * mappings are kept so pending samples can still be unwound).
 */
int unwinder_refresh(struct unwinder *u);

/*
 * Unwinds from REGS.  STACK holds LEN bytes copied from address REGS->sp.
 * Writes up to MAX instruction pointers to IPS, leaf first: IPS[0] is
 * REGS->ip, the others are return addresses as found on the stack.
 * Unwinding stops without error at the end of the copied stack, at an
 * address outside every executable mapping, and where neither CFI nor a
 * frame-pointer chain leads further.  Returns the number of entries
 * written (>= 1), or -EINVAL for bad arguments.
 */
int unwinder_unwind(struct unwinder *u, const struct unwind_regs *regs,
		    const void *stack, size_t len, __u64 *ips, int max);

/*
 * Whether CFI covers the instruction at IP in the target as currently
 * mapped: 1 yes, 0 no (unmapped, not in an ELF file, no FDE), or -errno.
 * For diagnostics and tests; unwinding does not need it.
 */
int unwinder_has_cfi(struct unwinder *u, __u64 ip);

/* Unmaps the ELF files and frees U.  NULL is a no-op. */
void unwinder_free(struct unwinder *u);

#endif
