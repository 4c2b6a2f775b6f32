/* SPDX-License-Identifier: MIT */
/*
 * Symbolization of CPU profile addresses: user-space addresses of one live
 * process through elfutils' libdwfl (function, inline chain, file:line, with
 * separate debug info found by build-id or .gnu_debuglink under
 * /usr/lib/debug), kernel addresses through /proc/kallsyms.
 *
 * Addresses are the process's virtual addresses as sampled: the symbolizer
 * reads /proc/PID/maps, so PIE and ASLR need nothing from the caller.  For
 * every frame but the innermost (leaf) one the caller passes the return
 * address minus one, so that the address lies inside the call instruction
 * and resolves to the call's line and inline chain, not to whatever follows
 * the call.  The symbolizer does not do that adjustment itself.
 *
 * Results are cached by (build-id, module offset), so an address seen before
 * costs a hash lookup; every string handed out is interned (one copy per
 * distinct string) and owned by the symbolizer: it stays valid until
 * symbolizer_free(), across symbolizer_refresh() and even after the process
 * has exited.
 *
 * Binaries deleted or replaced on disk while mapped are read through
 * /proc/PID/map_files (needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE) or,
 * for the main executable, /proc/PID/exe (needs only ptrace read access).
 * C++ names are demangled with libstdc++'s __cxa_demangle found at run time
 * through dlopen(); without libstdc++ they stay mangled.
 *
 * A symbolizer is not thread-safe: one per thread, or the caller locks.
 * Distinct symbolizers may be used from different threads (the kallsyms
 * table they share is reference-counted under a lock).
 *
 * With DEBUGINFOD_URLS set in the environment, libdwfl's standard lookup
 * may fetch missing debug info over the network on first use of a module.
 */
#ifndef LOUPE_SYMBOLIZE_H
#define LOUPE_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

#define SYM_UNKNOWN "[unknown]"
#define SYM_KERNEL "[kernel]"

struct sym_frame {
	/* Demangled name; SYM_UNKNOWN if not found. */
	const char *function;
	/* Source file path, or NULL without debug info. */
	const char *file;
	/* Source line, 0 if unknown. */
	__u32 line;
	/* ELF path as mapped, without the " (deleted)" the kernel appends to
	 * unlinked files; SYM_KERNEL for kernel frames; NULL when ADDR lies
	 * in no file-backed executable mapping. */
	const char *module;
	/* ADDR - mapping start + mapping file offset (pprof's address in the
	 * mapping's file); ADDR itself for kernel frames and when module is
	 * NULL. */
	__u64 module_offset;
	/* GNU build-id as lowercase hex, or NULL. */
	const char *build_id;
	/* This frame was inlined into the next (outer) one. */
	bool inlined;
};

struct symbolizer;

/*
 * A symbolizer for the live process PID, with its modules reported from
 * /proc/PID/maps (ELF files are opened only when an address in them is
 * first resolved).  Returns NULL and sets errno: ESRCH when PID does not
 * exist, EACCES without the right to read its maps, ENOMEM.
 */
struct symbolizer *symbolizer_new(pid_t pid);

/*
 * Re-reads /proc/PID/maps so that libraries dlopen()ed (or unmapped) since
 * the last call are seen; modules still mapped where they were keep their
 * open ELF and debug info.  When the maps are unchanged it costs one read
 * of /proc/PID/maps.  Returns 0, or -errno (-ESRCH once the process is
 * gone; the modules known so far keep resolving).
 */
int symbolizer_refresh(struct symbolizer *s);

/*
 * Resolves user-space address ADDR of the process into OUT[0..MAX): the
 * innermost inlined frame first, the containing real function last; every
 * frame carries ADDR's module, module_offset and build_id.  When the inline
 * chain is deeper than MAX the innermost frames are left out, so OUT[n-1]
 * is always the real function.  Returns the number of frames n >= 1 (an
 * address with no symbol gives one SYM_UNKNOWN frame, with module filled in
 * when ADDR lies in a known module), or -EINVAL for bad arguments, -ENOMEM.
 * The maps are not re-read here: a frame with module NULL for a sampled
 * address usually means a library mapped since, and is the caller's cue to
 * call symbolizer_refresh() (rate-limited) and try again.
 */
int symbolizer_user(struct symbolizer *s, __u64 addr, struct sym_frame *out,
		    int max);

/*
 * Resolves kernel address ADDR through /proc/kallsyms: OUT->function is the
 * nearest text symbol at or below ADDR, SYM_UNKNOWN when there is none or
 * kallsyms shows only zeros (kptr_restrict without privilege).  The table
 * is read and sorted on first use, shared by all symbolizers of the process
 * and freed with the last of them.  Returns 1, or -errno (-EINVAL for bad
 * arguments; the error reading kallsyms, which is not retried).
 */
int symbolizer_kernel(struct symbolizer *s, __u64 addr, struct sym_frame *out);

/* Releases everything, the strings handed out included.  NULL is a no-op. */
void symbolizer_free(struct symbolizer *s);

/* Counters for tests and benchmarks. */
struct symbolizer_stats {
	__u64 lookups;		/* symbolizer_user calls with valid arguments */
	__u64 cache_hits;	/* of those, answered from the cache */
	__u64 modules;		/* modules currently reported */
	__u64 refreshes;	/* symbolizer_refresh calls that re-reported */
	__u64 strings;		/* distinct interned strings */
};

void symbolizer_stats(const struct symbolizer *s, struct symbolizer_stats *st);

#endif
