// SPDX-License-Identifier: MIT
/*
 * Fixture for tests/unit/test_unwind_dwarf.c, built without frame pointers
 * (-O2 -fomit-frame-pointer): main -> f1 -> ... -> f6.  The leaf f6 does
 * what loupe's BPF side does at a sample: it captures its own registers and
 * copies the top of its stack.  It writes them, with the address of each
 * function, to the file named by argv[1]; then main prints "ready" and
 * waits for EOF on stdin, so the test can unwind while the mappings exist.
 *
 * The file: text lines, then the raw stack bytes
 *   regs IP SP BP BX R12 R13 R14 R15      (hex)
 *   func NAME ADDR                         (hex; f1..f6, main)
 *   stack LEN
 *   <LEN bytes copied from SP>
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define STACK_COPY 16384
/* external and never cloned, so each symbol is the code that runs */
#define FIXTURE_FN __attribute__((noinline, noclone))

struct fixture_regs {
	unsigned long long ip, sp, bp, bx, r12, r13, r14, r15;
};

int f1(int x);
int f2(int x);
int f3(int x);
int f4(int x);
int f5(int x);
int f6(int x);
int main(int argc, char **argv);

static const char *out_path;
static int failed;
static unsigned char stack_copy[STACK_COPY];

/* The kernel copies what is mapped: near the top of the stack a plain
 * 16 KiB memcpy would fault, and bpf_probe_read_user copies less too. */
static ssize_t copy_stack(unsigned long long sp)
{
	ssize_t n;
	int fd;

	fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = pread(fd, stack_copy, sizeof(stack_copy), (off_t)sp);
	close(fd);
	return n;
}

static int report(const struct fixture_regs *r, size_t len)
{
	FILE *f = fopen(out_path, "w");
	int err;

	if (!f)
		return -1;
	fprintf(f, "regs %llx %llx %llx %llx %llx %llx %llx %llx\n", r->ip, r->sp,
		r->bp, r->bx, r->r12, r->r13, r->r14, r->r15);
	fprintf(f, "func f1 %lx\nfunc f2 %lx\nfunc f3 %lx\nfunc f4 %lx\n",
		(unsigned long)f1, (unsigned long)f2, (unsigned long)f3,
		(unsigned long)f4);
	fprintf(f, "func f5 %lx\nfunc f6 %lx\nfunc main %lx\n",
		(unsigned long)f5, (unsigned long)f6, (unsigned long)main);
	fprintf(f, "stack %zu\n", len);
	fwrite(stack_copy, 1, len, f);
	err = ferror(f);
	return fclose(f) || err ? -1 : 0;
}

/* Each frame keeps a volatile array, so the compiler must give it stack
 * space (addressed from rsp: there is no frame pointer), and does work
 * after its call, so the call is not turned into a jump. */
FIXTURE_FN int f6(int x)
{
	volatile char pad[40];
	struct fixture_regs r;
	ssize_t len;

	pad[x % 40] = (char)x;
	/* ip is the label after the stores: the CFI row there describes
	 * the rsp captured here */
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
	len = copy_stack(r.sp);
	if (len <= 0 || report(&r, len))
		failed = 1;
	return pad[(x * 7) % 40] + x;
}

FIXTURE_FN int f5(int x)
{
	volatile char pad[72];

	pad[x % 72] = (char)x;
	return f6(x + 1) + pad[(x * 3) % 72];
}

FIXTURE_FN int f4(int x)
{
	volatile char pad[24];

	pad[x % 24] = (char)x;
	return f5(x + 1) + pad[(x * 5) % 24];
}

FIXTURE_FN int f3(int x)
{
	volatile char pad[136];

	pad[x % 136] = (char)x;
	return f4(x + 1) + pad[(x * 3) % 136];
}

FIXTURE_FN int f2(int x)
{
	volatile char pad[56];

	pad[x % 56] = (char)x;
	return f3(x + 1) + pad[(x * 3) % 56];
}

FIXTURE_FN int f1(int x)
{
	volatile char pad[88];

	pad[x % 88] = (char)x;
	return f2(x + 1) + pad[(x * 3) % 88];
}

int main(int argc, char **argv)
{
	char c;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: unwind_target OUTFILE\n");
		return 2;
	}
	out_path = argv[1];
	r = f1(argc);
	if (failed) {
		fprintf(stderr, "unwind_target: writing %s failed\n", out_path);
		return 1;
	}
	printf("ready %d\n", r);
	if (fflush(stdout))
		return 1;
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
