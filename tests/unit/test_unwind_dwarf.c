// SPDX-License-Identifier: MIT
/*
 * DWARF unwinding of copied stacks.  The main fixture is
 * tests/progs/nofp/unwind_target (no frame pointers): it captures its
 * registers and stack in its leaf f6 and waits, and we unwind it by pid
 * and check that f6, f5, ..., f1, main come out in order, comparing each
 * address with the function's extent from the fixture's symbol table.
 * Variants: the same source built here with .debug_frame instead of
 * .eh_frame, a deleted copy of the binary, this process's own stack,
 * a "JIT" frame without CFI, and cut, random and bad inputs.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <ucontext.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "collector/unwind_dwarf.h"

#define MAX_FRAMES 64
#define STACK_COPY 16384
#define TEST_FN __attribute__((noinline, noclone))

/* ---- helpers ---- */

struct fn_range {
	char name[32];
	__u64 start, size;
};

/* What a fixture run left behind. */
struct capture {
	pid_t pid;
	int in_fd;		/* its stdin: closing it ends the fixture */
	struct unwind_regs regs;
	unsigned char *stack;
	size_t len;
	struct fn_range fn[7];	/* f6, f5, ..., f1, main: leaf first */
	char exe[PATH_MAX];
};

static const char *const fixture_fns[7] = { "f6", "f5", "f4", "f3",
					     "f2", "f1", "main" };

/* <root>/<out>/tests/test_unwind_dwarf -> <root>/<out>/REL, or with UP
 * one more level up: <root>/REL. */
static int path_near_self(char *buf, size_t len, const char *rel, int up)
{
	char self[PATH_MAX];
	ssize_t n;
	int i;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = 0;
	for (i = 0; i < 2 + up; i++) {
		char *slash = strrchr(self, '/');

		if (!slash)
			return -1;
		*slash = 0;
	}
	if (snprintf(buf, len, "%s/%s", self, rel) >= (int)len)
		return -1;
	return access(buf, R_OK) ? -1 : 0;
}

/* st_value and st_size of function NAME in the ELF file PATH. */
static int sym_find(const char *path, const char *name, __u64 *value,
		    __u64 *size)
{
	Elf_Scn *scn = NULL;
	int fd, found = -1;
	Elf *elf;

	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	while (elf && found && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t i;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		d = elf_getdata(scn, NULL);
		for (i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *n;

			if (!gelf_getsym(d, i, &s) ||
			    GELF_ST_TYPE(s.st_info) != STT_FUNC)
				continue;
			n = elf_strptr(elf, sh.sh_link, s.st_name);
			if (n && !strcmp(n, name)) {
				*value = s.st_value;
				*size = s.st_size;
				found = 0;
				break;
			}
		}
	}
	elf_end(elf);
	close(fd);
	return found;
}

static bool in_fn(__u64 ip, const struct fn_range *f)
{
	/* a return address may sit just past a call ending the function */
	return ip >= f->start && ip <= f->start + f->size;
}

/* Path of the file mapped at ADDR in PID, "" when anonymous. */
static void mapped_path(pid_t pid, __u64 addr, char *out, size_t len)
{
	unsigned long long s, e;
	char path[64], line[PATH_MAX + 128];
	FILE *f;

	out[0] = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');

		if (sscanf(line, "%llx-%llx", &s, &e) != 2 || addr < s ||
		    addr >= e)
			continue;
		if (p) {
			p[strcspn(p, "\n")] = 0;
			snprintf(out, len, "%s", p);
		}
		break;
	}
	fclose(f);
}

/* Runs fixture EXE, waits for "ready" and loads what it wrote to OUT. */
static int fixture_run(const char *exe, const char *out, struct capture *c)
{
	int in[2], outp[2], i;
	struct pollfd pfd;
	char line[512];
	ssize_t n = 0, got;
	FILE *f;

	memset(c, 0, sizeof(*c));
	snprintf(c->exe, sizeof(c->exe), "%s", exe);
	if (pipe2(in, O_CLOEXEC) || pipe2(outp, O_CLOEXEC))
		return -1;
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (!c->pid) {
		dup2(in[0], 0);
		dup2(outp[1], 1);
		execl(exe, exe, out, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	c->in_fd = in[1];
	pfd.fd = outp[0];
	pfd.events = POLLIN;
	/* "ready" comes after the output file is closed */
	while (n < (ssize_t)sizeof(line) - 1 && !memchr(line, '\n', n)) {
		if (poll(&pfd, 1, 20000) != 1)
			break;
		got = read(outp[0], line + n, sizeof(line) - 1 - n);
		if (got <= 0)
			break;
		n += got;
	}
	close(outp[0]);
	line[n] = 0;
	if (strncmp(line, "ready", 5))
		return -1;

	f = fopen(out, "r");
	if (!f)
		return -1;
	if (!fgets(line, sizeof(line), f) ||
	    sscanf(line, "regs %llx %llx %llx %llx %llx %llx %llx %llx",
		   &c->regs.ip, &c->regs.sp, &c->regs.bp, &c->regs.bx,
		   &c->regs.r12, &c->regs.r13, &c->regs.r14,
		   &c->regs.r15) != 8)
		goto bad;
	for (i = 0; i < 7; i++) {
		char name[16];
		unsigned long long addr;
		int j;

		if (!fgets(line, sizeof(line), f) ||
		    sscanf(line, "func %15s %llx", name, &addr) != 2)
			goto bad;
		for (j = 0; j < 7; j++) {
			if (strcmp(name, fixture_fns[j]))
				continue;
			snprintf(c->fn[j].name, sizeof(c->fn[j].name), "%s",
				 name);
			c->fn[j].start = addr;
		}
	}
	if (!fgets(line, sizeof(line), f) ||
	    sscanf(line, "stack %zu", &c->len) != 1 || !c->len ||
	    c->len > STACK_COPY)
		goto bad;
	c->stack = malloc(c->len);
	if (!c->stack || fread(c->stack, 1, c->len, f) != c->len)
		goto bad;
	fclose(f);
	/* sizes from the symbol table; the printed addresses carry the
	 * load bias (PIE), the table does not */
	for (i = 0; i < 7; i++) {
		__u64 value;

		if (!c->fn[i].start ||
		    sym_find(exe, c->fn[i].name, &value, &c->fn[i].size) ||
		    !c->fn[i].size)
			return -1;
	}
	return 0;
bad:
	fclose(f);
	return -1;
}

static void fixture_end(struct capture *c)
{
	int status;

	if (c->pid > 0) {
		close(c->in_fd);
		waitpid(c->pid, &status, 0);
	}
	free(c->stack);
	c->stack = NULL;
}

static char tmpdir[64];

static void tmpdir_make(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/loupe-unwind-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
}

static void tmpdir_remove(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
}

/* Checks that IPS (N entries) run f6, f5, ..., f1, main. */
static void check_chain(const struct capture *c, const __u64 *ips, int n)
{
	int i;

	assert_true(n >= 7);
	for (i = 0; i < 7; i++) {
		if (!in_fn(ips[i], &c->fn[i]))
			fail_msg("frame %d: %llx not in %s [%llx, +%llu]", i,
				 (unsigned long long)ips[i], c->fn[i].name,
				 (unsigned long long)c->fn[i].start,
				 (unsigned long long)c->fn[i].size);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs the fixture built with the Makefile's no-frame-pointer flags in a
 * new temporary folder; skips the test when it has not been built
 * (`make build/progs/nofp/unwind_target`). */
static void fixture_default(struct capture *c)
{
	char exe[PATH_MAX], out[PATH_MAX];

	if (path_near_self(exe, sizeof(exe), "progs/nofp/unwind_target", 0))
		skip();
	tmpdir_make();
	snprintf(out, sizeof(out), "%s/capture", tmpdir);
	if (fixture_run(exe, out, c)) {
		fixture_end(c);
		tmpdir_remove();
		fail_msg("running %s failed", exe);
	}
}

/* ---- the fixture ---- */

static void test_fixture_chain(void **state)
{
	__u64 ips[MAX_FRAMES], again[MAX_FRAMES];
	char lib[PATH_MAX];
	struct capture c;
	struct unwinder *u;
	double t0, dt, t_new, t_cold;
	long iters = 0;
	int n, i;

	(void)state;
	fixture_default(&c);
	t0 = now_s();
	u = unwinder_new(c.pid);
	assert_non_null(u);
	t_new = now_s() - t0;
	n = unwinder_unwind(u, &c.regs, c.stack, c.len, ips, MAX_FRAMES);
	t_cold = now_s() - t0 - t_new;
	assert_int_equal(ips[0], c.regs.ip);
	check_chain(&c, ips, n);
	/* past main: glibc's __libc_start_call_main, a PIE shared library */
	assert_true(n >= 8);
	mapped_path(c.pid, ips[7], lib, sizeof(lib));
	assert_non_null(strstr(lib, "libc"));
	for (i = 0; i < 7; i++)
		assert_int_equal(unwinder_has_cfi(u, c.fn[i].start), 1);

	/* nothing changed: a refresh keeps everything, results stay */
	assert_int_equal(unwinder_refresh(u), 0);
	assert_int_equal(unwinder_unwind(u, &c.regs, c.stack, c.len, again,
					 MAX_FRAMES), n);
	assert_memory_equal(ips, again, n * sizeof(ips[0]));
	/* MAX bounds the output */
	assert_int_equal(unwinder_unwind(u, &c.regs, c.stack, c.len, again, 3),
			 3);
	assert_memory_equal(ips, again, 3 * sizeof(ips[0]));

	/* warm throughput; printed, not asserted (machines differ) */
	t0 = now_s();
	do {
		for (i = 0; i < 1000; i++)
			unwinder_unwind(u, &c.regs, c.stack, c.len, again,
					MAX_FRAMES);
		iters += 1000;
		dt = now_s() - t0;
	} while (dt < 0.5);
	assert_memory_equal(ips, again, n * sizeof(ips[0]));
	printf("# unwind_dwarf: %d frames, %.0f unwinds/s warm (%.2f us each); "
	       "unwinder_new %.0f us, first unwind %.0f us\n",
	       n, iters / dt, dt * 1e6 / iters, t_new * 1e6, t_cold * 1e6);

	unwinder_free(u);
	fixture_end(&c);
	tmpdir_remove();
}

static void test_fixture_cut_stack(void **state)
{
	__u64 full[MAX_FRAMES], ips[MAX_FRAMES];
	struct capture c;
	struct unwinder *u;
	int nfull, n;

	(void)state;
	fixture_default(&c);
	u = unwinder_new(c.pid);
	assert_non_null(u);
	nfull = unwinder_unwind(u, &c.regs, c.stack, c.len, full, MAX_FRAMES);
	check_chain(&c, full, nfull);

	/* 512 bytes hold a few frames, then the return address of the next
	 * one is not in the copy: a clean stop, and what came out is right */
	n = unwinder_unwind(u, &c.regs, c.stack, 512, ips, MAX_FRAMES);
	assert_true(n >= 1);
	assert_true(n < nfull);
	assert_memory_equal(ips, full, n * sizeof(ips[0]));
	/* no stack at all: just the sampled ip */
	assert_int_equal(unwinder_unwind(u, &c.regs, c.stack, 0, ips,
					 MAX_FRAMES), 1);
	assert_int_equal(unwinder_unwind(u, &c.regs, NULL, 0, ips, MAX_FRAMES),
			 1);
	assert_int_equal(ips[0], c.regs.ip);

	/* the process exits: samples taken before still unwind, with the
	 * files mapped at the last refresh */
	close(c.in_fd);
	assert_int_equal(waitpid(c.pid, NULL, 0), c.pid);
	c.pid = 0;
	assert_int_equal(unwinder_refresh(u), -ESRCH);
	assert_int_equal(unwinder_unwind(u, &c.regs, c.stack, c.len, ips,
					 MAX_FRAMES), nfull);
	assert_memory_equal(ips, full, nfull * sizeof(ips[0]));
	unwinder_free(u);
	fixture_end(&c);
	tmpdir_remove();
}

static void test_fixture_garbage(void **state)
{
	__u64 ips[MAX_FRAMES];
	unsigned char *junk;
	struct unwind_regs r;
	struct capture c;
	struct unwinder *u;
	int n, i;
	size_t j;

	(void)state;
	fixture_default(&c);
	u = unwinder_new(c.pid);
	assert_non_null(u);
	junk = malloc(STACK_COPY);
	assert_non_null(junk);
	srand(12345);
	for (i = 0; i < 2000; i++) {
		for (j = 0; j < STACK_COPY; j++)
			junk[j] = rand();
		/* sometimes plant plausible words: code addresses, stack
		 * addresses, so the walk gets somewhere before it fails */
		for (j = 0; j + 8 <= STACK_COPY && (i & 1); j += 64) {
			__u64 v = rand() & 1 ? c.fn[rand() % 7].start + rand() % 64
					     : c.regs.sp + rand() % STACK_COPY;

			memcpy(junk + j + (rand() % 8) * 8 % 64, &v, 8);
		}
		r = c.regs;
		if (i % 3 == 1) {
			r.ip = ((__u64)rand() << 32) ^ rand();
			r.bp = c.regs.sp + rand() % STACK_COPY;
		} else if (i % 3 == 2) {
			r.sp += rand() % 64;	/* misaligned too */
			r.bp = rand();
		}
		n = unwinder_unwind(u, &r, junk, rand() % (STACK_COPY + 1), ips,
				    MAX_FRAMES);
		assert_true(n >= 1 && n <= MAX_FRAMES);
		assert_int_equal(ips[0], r.ip);
	}
	/* the real registers over a junk stack */
	n = unwinder_unwind(u, &c.regs, junk, STACK_COPY, ips, MAX_FRAMES);
	assert_true(n >= 1 && n <= MAX_FRAMES);
	free(junk);
	unwinder_free(u);
	fixture_end(&c);
	tmpdir_remove();
}

/* The fixture built here without .eh_frame: -fno-asynchronous-unwind-tables
 * makes gcc put the CFI of -g code in .debug_frame.  Only the C runtime's
 * start files still have .eh_frame, so .eh_frame_hdr exists but does not
 * cover f1..f6 and main.  EXTRA adds compiler flags. */
static void debug_frame_run(const char *extra)
{
	char src[PATH_MAX], exe[PATH_MAX], out[PATH_MAX], cmd[3 * PATH_MAX];
	__u64 ips[MAX_FRAMES];
	struct capture c;
	struct unwinder *u;
	int n;

	if (path_near_self(src, sizeof(src), "tests/progs/nofp/unwind_target.c",
			   1) ||
	    system("command -v gcc >/dev/null 2>&1"))
		skip();
	tmpdir_make();
	snprintf(exe, sizeof(exe), "%s/unwind_target_dbg", tmpdir);
	snprintf(out, sizeof(out), "%s/capture", tmpdir);
	snprintf(cmd, sizeof(cmd),
		 "gcc -O2 -g -fomit-frame-pointer -fno-asynchronous-unwind-tables "
		 "-fno-unwind-tables %s -std=gnu11 -D_GNU_SOURCE '%s' -o '%s'",
		 extra, src, exe);
	assert_int_equal(system(cmd), 0);
	/* the premise: the functions' CFI is in .debug_frame */
	snprintf(cmd, sizeof(cmd),
		 "readelf --debug-dump=frames '%s' 2>/dev/null | "
		 "grep -q 'Contents of the .debug_frame'", exe);
	assert_int_equal(system(cmd), 0);

	assert_int_equal(fixture_run(exe, out, &c), 0);
	u = unwinder_new(c.pid);
	assert_non_null(u);
	n = unwinder_unwind(u, &c.regs, c.stack, c.len, ips, MAX_FRAMES);
	check_chain(&c, ips, n);
	assert_int_equal(unwinder_has_cfi(u, c.fn[3].start), 1);
	unwinder_free(u);
	fixture_end(&c);
	tmpdir_remove();
}

static void test_debug_frame_fallback(void **state)
{
	(void)state;
	debug_frame_run("");
}

/* -gz: the section is zlib-compressed (SHF_COMPRESSED) */
static void test_debug_frame_compressed(void **state)
{
	(void)state;
	debug_frame_run("-gz");
}

/* File offset and size of section NAME in PATH; -1 when absent. */
static int section_find(const char *path, const char *name, __u64 *off,
			__u64 *size)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	int fd, found = -1;
	Elf *elf;

	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf && !elf_getshdrstrndx(elf, &shstrndx)) {
		while (found && (scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			const char *n;

			if (!gelf_getshdr(scn, &sh))
				continue;
			n = elf_strptr(elf, shstrndx, sh.sh_name);
			if (n && !strcmp(n, name)) {
				*off = sh.sh_offset;
				*size = sh.sh_size;
				found = 0;
			}
		}
	}
	elf_end(elf);
	close(fd);
	return found;
}

/* Overwrites COUNT random bytes of section NAME of the file open as FD
 * (all of it when COUNT is 0). */
static void section_scribble(int fd, const char *path, const char *name,
			     int count)
{
	__u64 off, size, i;
	unsigned char b;

	if (section_find(path, name, &off, &size) || !size)
		return;
	for (i = 0; count ? i < (__u64)count : i < size; i++) {
		b = rand();
		assert_int_equal(pwrite(fd, &b, 1,
					off + (count ? rand() % size : i)), 1);
	}
}

/* CFI that is garbage: the fixture's .debug_frame, .eh_frame_hdr and
 * .eh_frame scribbled over (the program runs regardless: it never throws).
 * Unwinding may stop anywhere, but must not crash or loop. */
static void test_corrupt_cfi(void **state)
{
	char src[PATH_MAX], exe[PATH_MAX], bad[PATH_MAX], out[PATH_MAX];
	char cmd[3 * PATH_MAX];
	__u64 ips[MAX_FRAMES];
	struct capture c;
	struct unwinder *u;
	int round, fd, n;

	(void)state;
	if (path_near_self(src, sizeof(src), "tests/progs/nofp/unwind_target.c",
			   1) ||
	    system("command -v gcc >/dev/null 2>&1"))
		skip();
	tmpdir_make();
	snprintf(exe, sizeof(exe), "%s/unwind_target_dbg", tmpdir);
	snprintf(bad, sizeof(bad), "%s/unwind_target_bad", tmpdir);
	snprintf(out, sizeof(out), "%s/capture", tmpdir);
	snprintf(cmd, sizeof(cmd),
		 "gcc -O2 -g -fomit-frame-pointer -fno-asynchronous-unwind-tables "
		 "-fno-unwind-tables -std=gnu11 -D_GNU_SOURCE '%s' -o '%s'",
		 src, exe);
	assert_int_equal(system(cmd), 0);
	srand(777);
	for (round = 0; round < 12; round++) {
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", exe, bad);
		assert_int_equal(system(cmd), 0);
		fd = open(bad, O_WRONLY);
		assert_true(fd >= 0);
		/* a few bytes flipped, then whole sections of noise */
		section_scribble(fd, bad, ".debug_frame", round < 8 ? 4 : 0);
		section_scribble(fd, bad, ".eh_frame_hdr", round < 8 ? 2 : 0);
		section_scribble(fd, bad, ".eh_frame", round < 8 ? 2 : 0);
		close(fd);
		assert_int_equal(fixture_run(bad, out, &c), 0);
		u = unwinder_new(c.pid);
		assert_non_null(u);
		n = unwinder_unwind(u, &c.regs, c.stack, c.len, ips,
				    MAX_FRAMES);
		assert_true(n >= 1 && n <= MAX_FRAMES);
		assert_true(unwinder_has_cfi(u, c.fn[3].start) >= 0);
		unwinder_free(u);
		fixture_end(&c);
	}
	tmpdir_remove();
}

/* A binary replaced (deleted) while running: maps says "(deleted)" and the
 * path leads nowhere; the file is reached through /proc/PID/map_files or
 * /proc/PID/exe. */
static void test_deleted_binary(void **state)
{
	char src[PATH_MAX], exe[PATH_MAX], out[PATH_MAX], cmd[3 * PATH_MAX];
	__u64 ips[MAX_FRAMES];
	struct capture c;
	struct unwinder *u;
	int n;

	(void)state;
	if (path_near_self(src, sizeof(src), "progs/nofp/unwind_target", 0))
		skip();
	tmpdir_make();
	snprintf(exe, sizeof(exe), "%s/unwind_target_copy", tmpdir);
	snprintf(out, sizeof(out), "%s/capture", tmpdir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, exe);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(fixture_run(exe, out, &c), 0);
	assert_int_equal(unlink(exe), 0);
	u = unwinder_new(c.pid);
	assert_non_null(u);
	n = unwinder_unwind(u, &c.regs, c.stack, c.len, ips, MAX_FRAMES);
	check_chain(&c, ips, n);
	unwinder_free(u);
	fixture_end(&c);
	tmpdir_remove();
}

/* ---- this process ---- */

static struct unwind_regs self_regs;
static unsigned char *self_stack;
static size_t self_len;

/* Captures the registers and the stack the way f6 does; under ASan a
 * memcpy of the stack would trip over redzones, a read of
 * /proc/self/mem does not. */
static TEST_FN void self_capture(void)
{
	struct unwind_regs r;
	ssize_t n;
	int fd;

	__asm__ volatile("lea 1f(%%rip), %%rax\n\t"
			 "mov %%rax, 0(%0)\n\t"
			 "mov %%rsp, 8(%0)\n\t"
			 "mov %%rbp, 16(%0)\n\t"
			 "mov %%rbx, 24(%0)\n\t"
			 "mov %%r12, 32(%0)\n\t"
			 "mov %%r13, 40(%0)\n\t"
			 "mov %%r14, 48(%0)\n\t"
			 "mov %%r15, 56(%0)\n\t"
			 "1:\n\t"
			 :
			 : "r"(&r)
			 : "rax", "memory");
	fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : pread(fd, self_stack, STACK_COPY, (off_t)r.sp);
	if (fd >= 0)
		close(fd);
	self_len = n > 0 ? n : 0;
	self_regs = r;
}

static TEST_FN int self_t3(int x)
{
	volatile int pad[8];

	pad[x & 7] = x;
	self_capture();
	return pad[(x + 1) & 7];
}

static TEST_FN int self_t2(int x)
{
	return self_t3(x + 1) + 1;
}

static TEST_FN int self_t1(int x)
{
	return self_t2(x + 1) + 1;
}

static void self_range(const char *name, struct fn_range *f, __u64 addr)
{
	__u64 value;

	snprintf(f->name, sizeof(f->name), "%s", name);
	f->start = addr;
	assert_int_equal(sym_find("/proc/self/exe", name, &value, &f->size), 0);
}

static void test_current_process(void **state)
{
	struct fn_range fn[5];
	__u64 ips[MAX_FRAMES];
	struct unwinder *u;
	int n, i;

	(void)state;
	self_stack = malloc(STACK_COPY);
	assert_non_null(self_stack);
	assert_true(self_t1(1) != 12345);
	assert_true(self_len > 0);

	self_range("self_capture", &fn[0], (__u64)(uintptr_t)self_capture);
	self_range("self_t3", &fn[1], (__u64)(uintptr_t)self_t3);
	self_range("self_t2", &fn[2], (__u64)(uintptr_t)self_t2);
	self_range("self_t1", &fn[3], (__u64)(uintptr_t)self_t1);
	self_range("test_current_process", &fn[4],
		   (__u64)(uintptr_t)test_current_process);

	u = unwinder_new(getpid());
	assert_non_null(u);
	n = unwinder_unwind(u, &self_regs, self_stack, self_len, ips,
			    MAX_FRAMES);
	assert_true(n >= 5);
	for (i = 0; i < 5; i++)
		if (!in_fn(ips[i], &fn[i]))
			fail_msg("frame %d: %llx not in %s", i,
				 (unsigned long long)ips[i], fn[i].name);
	unwinder_free(u);
	free(self_stack);
	self_stack = NULL;
}

/*
 * A frame without CFI, like JIT code: an anonymous executable page with
 * a frame-pointer prologue that calls its argument:
 *   push %rbp; mov %rsp,%rbp; call *%rdi; pop %rbp; ret
 */
static const unsigned char jit_code[] = { 0x55, 0x48, 0x89, 0xe5, 0xff,
					  0xd7, 0x5d, 0xc3 };

static TEST_FN void jit_callee(void)
{
	self_capture();
	__asm__ volatile("" ::: "memory");	/* not a tail call */
}

static TEST_FN int jit_caller(void (*jit)(void (*)(void)))
{
	jit(jit_callee);
	return 3;
}

static void test_jit_frame(void **state)
{
	struct fn_range fn[5];
	__u64 ips[MAX_FRAMES], jit_start;
	struct unwinder *u;
	void *page;
	int n, i;

	(void)state;
	self_stack = malloc(STACK_COPY);
	assert_non_null(self_stack);
	/* mapped before the page exists: the JIT frame is then unknown */
	u = unwinder_new(getpid());
	assert_non_null(u);

	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(page != MAP_FAILED);
	memcpy(page, jit_code, sizeof(jit_code));
	if (mprotect(page, 4096, PROT_READ | PROT_EXEC)) {
		munmap(page, 4096);
		unwinder_free(u);
		free(self_stack);
		skip();	/* W^X policy forbids it */
	}
	jit_start = (__u64)(uintptr_t)page;
	assert_int_equal(jit_caller((void (*)(void (*)(void)))page), 3);
	assert_true(self_len > 0);

	self_range("self_capture", &fn[0], (__u64)(uintptr_t)self_capture);
	self_range("jit_callee", &fn[1], (__u64)(uintptr_t)jit_callee);
	snprintf(fn[2].name, sizeof(fn[2].name), "jit");
	fn[2].start = jit_start;
	fn[2].size = sizeof(jit_code);
	self_range("jit_caller", &fn[3], (__u64)(uintptr_t)jit_caller);
	self_range("test_jit_frame", &fn[4], (__u64)(uintptr_t)test_jit_frame);

	/* stale maps: the return address into the page is in no mapping */
	n = unwinder_unwind(u, &self_regs, self_stack, self_len, ips,
			    MAX_FRAMES);
	assert_int_equal(n, 2);
	assert_int_equal(unwinder_refresh(u), 0);
	assert_int_equal(unwinder_has_cfi(u, jit_start + 4), 0);

	n = unwinder_unwind(u, &self_regs, self_stack, self_len, ips,
			    MAX_FRAMES);
	assert_true(n >= 5);
	for (i = 0; i < 5; i++)
		if (!in_fn(ips[i], &fn[i]))
			fail_msg("frame %d: %llx not in %s", i,
				 (unsigned long long)ips[i], fn[i].name);
	unwinder_free(u);
	munmap(page, 4096);
	free(self_stack);
	self_stack = NULL;
}

/*
 * A signal frame.  sig_fault's first instruction faults, so the frame
 * interrupted by the signal has sig_fault's first byte as ip.  That ip is
 * where execution resumes, not a return address: the unwinder must look
 * it up as it is and not minus one, which would land in sig_pad, whose
 * CFI puts the return address elsewhere.
 */
__asm__(".text\n"
	".type sig_pad, @function\n"
	"sig_pad:\n"
	".cfi_startproc\n"
	"push %rbp\n"
	".cfi_def_cfa_offset 16\n"
	"ud2\n"
	".cfi_endproc\n"
	".size sig_pad, .-sig_pad\n"
	".type sig_fault, @function\n"
	"sig_fault:\n"
	".cfi_startproc\n"
	"ud2\n"
	"ret\n"
	".cfi_endproc\n"
	".size sig_fault, .-sig_fault\n");
void sig_fault(void);

static TEST_FN void sig_handler(int sig, siginfo_t *si, void *uctx)
{
	ucontext_t *uc = uctx;

	(void)sig;
	(void)si;
	self_capture();
	uc->uc_mcontext.gregs[REG_RIP] += 2;	/* resume past the ud2 */
}

static TEST_FN void sig_caller(void)
{
	sig_fault();
	__asm__ volatile("" ::: "memory");	/* not a tail call */
}

static void test_signal_frame(void **state)
{
	struct sigaction sa, old;
	struct fn_range fn[6];
	__u64 ips[MAX_FRAMES];
	char lib[PATH_MAX];
	struct unwinder *u;
	int n, i;

	(void)state;
	self_stack = malloc(STACK_COPY);
	assert_non_null(self_stack);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sig_handler;
	sa.sa_flags = SA_SIGINFO;
	assert_int_equal(sigaction(SIGILL, &sa, &old), 0);
	sig_caller();
	assert_int_equal(sigaction(SIGILL, &old, NULL), 0);
	assert_true(self_len > 0);

	self_range("self_capture", &fn[0], (__u64)(uintptr_t)self_capture);
	self_range("sig_handler", &fn[1], (__u64)(uintptr_t)sig_handler);
	self_range("sig_fault", &fn[3], (__u64)(uintptr_t)sig_fault);
	self_range("sig_caller", &fn[4], (__u64)(uintptr_t)sig_caller);
	self_range("test_signal_frame", &fn[5],
		   (__u64)(uintptr_t)test_signal_frame);

	u = unwinder_new(getpid());
	assert_non_null(u);
	n = unwinder_unwind(u, &self_regs, self_stack, self_len, ips,
			    MAX_FRAMES);
	assert_true(n >= 6);
	/* the handler returns into glibc's __restore_rt */
	mapped_path(getpid(), ips[2], lib, sizeof(lib));
	assert_non_null(strstr(lib, "libc"));
	assert_int_equal(ips[3], fn[3].start);
	for (i = 0; i < 6; i++)
		if (i != 2 && !in_fn(ips[i], &fn[i]))
			fail_msg("frame %d: %llx not in %s", i,
				 (unsigned long long)ips[i], fn[i].name);
	unwinder_free(u);
	free(self_stack);
	self_stack = NULL;
}

/*
 * A call that ends its function: nr_caller's call to the noreturn
 * nr_target is its last instruction, so the return address is the first
 * byte of nr_next.  Looked up as it is, it would find nr_next's CFI (CFA
 * at rsp+8) instead of nr_caller's (rsp+16); a return address has to be
 * looked up minus one.
 */
static jmp_buf nr_jmp;

static TEST_FN __attribute__((used, noreturn)) void nr_target(void)
{
	self_capture();
	longjmp(nr_jmp, 1);
}

__asm__(".text\n"
	".type nr_caller, @function\n"
	"nr_caller:\n"
	".cfi_startproc\n"
	"sub $8, %rsp\n"
	".cfi_def_cfa_offset 16\n"
	"call nr_target\n"
	".cfi_endproc\n"
	".size nr_caller, .-nr_caller\n"
	".type nr_next, @function\n"
	"nr_next:\n"
	".cfi_startproc\n"
	"ud2\n"
	".cfi_endproc\n"
	".size nr_next, .-nr_next\n");
void nr_caller(void);

static TEST_FN void nr_driver(void)
{
	if (!setjmp(nr_jmp))
		nr_caller();
	__asm__ volatile("" ::: "memory");
}

static void test_call_ends_function(void **state)
{
	struct fn_range fn[5];
	__u64 ips[MAX_FRAMES], v, next_start, next_size;
	struct unwinder *u;
	int n, i;

	(void)state;
	self_stack = malloc(STACK_COPY);
	assert_non_null(self_stack);
	nr_driver();
	assert_true(self_len > 0);

	self_range("self_capture", &fn[0], (__u64)(uintptr_t)self_capture);
	self_range("nr_target", &fn[1], (__u64)(uintptr_t)nr_target);
	self_range("nr_caller", &fn[2], (__u64)(uintptr_t)nr_caller);
	self_range("nr_driver", &fn[3], (__u64)(uintptr_t)nr_driver);
	self_range("test_call_ends_function", &fn[4],
		   (__u64)(uintptr_t)test_call_ends_function);
	assert_int_equal(sym_find("/proc/self/exe", "nr_next", &v, &next_size),
			 0);
	next_start = fn[2].start + fn[2].size;

	u = unwinder_new(getpid());
	assert_non_null(u);
	n = unwinder_unwind(u, &self_regs, self_stack, self_len, ips,
			    MAX_FRAMES);
	assert_true(n >= 5);
	assert_int_equal(ips[2], next_start);
	for (i = 0; i < 5; i++)
		if (!in_fn(ips[i], &fn[i]))
			fail_msg("frame %d: %llx not in %s", i,
				 (unsigned long long)ips[i], fn[i].name);
	unwinder_free(u);
	free(self_stack);
	self_stack = NULL;
}

/* The vDSO has no file; its CFI comes from our own copy of the image. */
static void test_vdso_cfi(void **state)
{
	unsigned long base = getauxval(AT_SYSINFO_EHDR);
	unsigned long long s, e;
	__u64 addr = 0, bias = 0;
	char line[512];
	size_t len = 0, i;
	Elf_Scn *scn = NULL;
	struct unwinder *u;
	GElf_Phdr ph;
	char *copy;
	Elf *elf;
	FILE *f;

	(void)state;
	if (!base)
		skip();
	f = fopen("/proc/self/maps", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "[vdso]") &&
		    sscanf(line, "%llx-%llx", &s, &e) == 2)
			len = e - s;
	fclose(f);
	assert_true(len > 0);
	copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, (void *)base, len);
	elf_version(EV_CURRENT);
	elf = elf_memory(copy, len);
	assert_non_null(elf);
	for (i = 0; gelf_getphdr(elf, i, &ph); i++)
		if (ph.p_type == PT_LOAD) {
			bias = base - ph.p_vaddr;
			break;
		}
	while (!addr && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t k;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM)
			continue;
		d = elf_getdata(scn, NULL);
		for (k = 0; d && k < sh.sh_size / sh.sh_entsize; k++) {
			GElf_Sym sym;
			const char *n;

			if (!gelf_getsym(d, k, &sym))
				continue;
			n = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (n && !strcmp(n, "__vdso_clock_gettime"))
				addr = bias + sym.st_value;
		}
	}
	elf_end(elf);
	free(copy);
	if (!addr)
		skip();

	u = unwinder_new(getpid());
	assert_non_null(u);
	assert_int_equal(unwinder_has_cfi(u, addr + 1), 1);
	unwinder_free(u);
}

/* Files mapped executable that are not proper ELF files: a truncated
 * ELF, noise, an ELF with its section and program header tables
 * overwritten.  They are opened at unwinder_new(); nothing may crash. */
static void test_odd_mappings(void **state)
{
	static const char *const kinds[] = { "truncated", "noise", "headers" };
	char path[PATH_MAX], self[PATH_MAX], cmd[3 * PATH_MAX];
	unsigned char junk[8192];
	void *maps[3];
	struct unwind_regs r;
	__u64 ips[MAX_FRAMES];
	struct unwinder *u;
	Elf64_Ehdr eh;
	size_t i, j;
	int fd, n;

	(void)state;
	tmpdir_make();
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = 0;
	srand(99);
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, kinds[i]);
		if (i == 1) {
			for (j = 0; j < sizeof(junk); j++)
				junk[j] = rand();
			fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
			assert_true(fd >= 0);
			assert_int_equal(write(fd, junk, sizeof(junk)),
					 sizeof(junk));
		} else {
			snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", self, path);
			assert_int_equal(system(cmd), 0);
			fd = open(path, O_RDWR);
			assert_true(fd >= 0);
			if (i == 0) {
				assert_int_equal(ftruncate(fd, 3000), 0);
			} else {
				assert_int_equal(pread(fd, &eh, sizeof(eh), 0),
						 sizeof(eh));
				for (j = 0; j < sizeof(junk); j++)
					junk[j] = rand();
				assert_int_equal(pwrite(fd, junk, 512, eh.e_shoff),
						 512);
				assert_int_equal(pwrite(fd, junk + 512, 256,
							eh.e_phoff),
						 256);
			}
		}
		maps[i] = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE,
			       fd, 0);
		close(fd);
		if (maps[i] == MAP_FAILED) {
			while (i--)
				munmap(maps[i], 4096);
			tmpdir_remove();
			skip();	/* /tmp mounted noexec */
		}
	}
	u = unwinder_new(getpid());
	assert_non_null(u);
	for (i = 0; i < 3; i++) {
		__u64 ip = (__u64)(uintptr_t)maps[i] + 100;

		assert_true(unwinder_has_cfi(u, ip) >= 0);
		memset(&r, 0, sizeof(r));
		r.ip = ip;
		r.sp = (__u64)(uintptr_t)junk;
		r.bp = r.sp + 64;
		n = unwinder_unwind(u, &r, junk, sizeof(junk), ips, MAX_FRAMES);
		assert_true(n >= 1 && n <= MAX_FRAMES);
	}
	unwinder_free(u);
	for (i = 0; i < 3; i++)
		munmap(maps[i], 4096);
	tmpdir_remove();
}

/* ---- bad input ---- */

static void test_bad_args(void **state)
{
	struct unwind_regs r = { 0 };
	unsigned char stack[64] = { 0 };
	__u64 ips[4];
	struct unwinder *u;
	pid_t pid;
	int status;

	(void)state;
	unwinder_free(NULL);
	assert_int_equal(unwinder_refresh(NULL), -EINVAL);
	assert_int_equal(unwinder_unwind(NULL, &r, stack, sizeof(stack), ips,
					 4), -EINVAL);
	assert_int_equal(unwinder_has_cfi(NULL, 0), -EINVAL);

	/* a pid that existed and is gone */
	pid = fork();
	assert_true(pid >= 0);
	if (!pid)
		_exit(0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	errno = 0;
	assert_null(unwinder_new(pid));
	assert_int_equal(errno, ESRCH);
	errno = 0;
	assert_null(unwinder_new(-1));
	assert_int_equal(errno, ESRCH);

	u = unwinder_new(getpid());
	assert_non_null(u);
	assert_int_equal(unwinder_unwind(u, NULL, stack, sizeof(stack), ips, 4),
			 -EINVAL);
	assert_int_equal(unwinder_unwind(u, &r, stack, sizeof(stack), NULL, 4),
			 -EINVAL);
	assert_int_equal(unwinder_unwind(u, &r, stack, sizeof(stack), ips, 0),
			 -EINVAL);
	assert_int_equal(unwinder_unwind(u, &r, NULL, sizeof(stack), ips, 4),
			 -EINVAL);
	/* ip 0, sp at the top of the address space: one frame, no wrap */
	r.sp = UINT64_MAX - 8;
	assert_int_equal(unwinder_unwind(u, &r, stack, sizeof(stack), ips, 4),
			 1);
	assert_int_equal(ips[0], 0);
	assert_int_equal(unwinder_has_cfi(u, 0), 0);
	assert_int_equal(unwinder_has_cfi(u, (__u64)(uintptr_t)stack), 0);
	unwinder_free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_chain),
		cmocka_unit_test(test_fixture_cut_stack),
		cmocka_unit_test(test_fixture_garbage),
		cmocka_unit_test(test_debug_frame_fallback),
		cmocka_unit_test(test_debug_frame_compressed),
		cmocka_unit_test(test_corrupt_cfi),
		cmocka_unit_test(test_deleted_binary),
		cmocka_unit_test(test_current_process),
		cmocka_unit_test(test_jit_frame),
		cmocka_unit_test(test_signal_frame),
		cmocka_unit_test(test_call_ends_function),
		cmocka_unit_test(test_vdso_cfi),
		cmocka_unit_test(test_odd_mappings),
		cmocka_unit_test(test_bad_args),
	};

	/* a fixture that dies must not leave us writing to its pipe */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
