// SPDX-License-Identifier: MIT
/*
 * The symbolizer against live processes running fixtures compiled here at
 * test time: a C program with an always_inline helper (inline frames,
 * file:line), a C++ library with a namespaced template, stripped of its
 * debug info into a .gnu_debuglink file (demangling, separate debug info,
 * dlopen after attach), libc (ELF symbols only), the vDSO, a deleted
 * binary, a dead process and the kernel.  Ends by printing throughput.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <elfutils/libdwelf.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "collector/symbolize.h"

static const char fixture_c[] =
	"#include <dlfcn.h>\n"
	"#include <stdio.h>\n"
	"#include <unistd.h>\n"
	"\n"
	"void *volatile probe_ret;\n"
	"\n"
	"__attribute__((noinline)) void probe(void) /* @PROBE_DECL */\n"
	"{\n"
	"	probe_ret = __builtin_return_address(0);\n"
	"	__asm__ volatile(\"\" ::: \"memory\");\n"
	"}\n"
	"\n"
	"static inline __attribute__((always_inline)) int helper(int x)\n"
	"{\n"
	"	probe(); /* @HELPER_CALL */\n"
	"	return x * 3;\n"
	"}\n"
	"\n"
	"__attribute__((noinline)) int outer_fn(int x) { /* @OUTER_DECL */\n"
	"	int r = helper(x); /* @OUTER_CALL */\n"
	"	__asm__ volatile(\"\" ::: \"memory\");\n"
	"	return r + 1;\n"
	"}\n"
	"\n"
	"int main(int argc, char **argv)\n"
	"{\n"
	"	volatile int arg = argc;\n"
	"	void *(*fx_addr)(int);\n"
	"	void *h = NULL;\n"
	"	char cmd;\n"
	"\n"
	"	outer_fn(arg);\n"
	"	printf(\"probe %p\\nouter %p\\ninline %p\\nwrite %p\\nready\\n\",\n"
	"	       (void *)probe, (void *)outer_fn, probe_ret,\n"
	"	       dlsym(RTLD_DEFAULT, \"write\"));\n"
	"	fflush(stdout);\n"
	"	while (read(0, &cmd, 1) == 1) {\n"
	"		if (cmd == 'd' && argc > 1) {\n"
	"			h = dlopen(argv[1], RTLD_NOW);\n"
	"			fx_addr = h ? (void *(*)(int))dlsym(h, \"loupe_fx_addr\") : NULL;\n"
	"			printf(\"cxx %p %p\\n\", fx_addr ? fx_addr(0) : NULL,\n"
	"			       fx_addr ? fx_addr(1) : NULL);\n"
	"		} else if (cmd == 'c' && h) {\n"
	"			printf(\"closed %d\\n\", dlclose(h) == 0);\n"
	"			h = NULL;\n"
	"		} else if (cmd == 'n' && argc > 2) {\n"
	"			void *nh = dlopen(argv[2], RTLD_NOW);\n"
	"\n"
	"			printf(\"nodbg %p\\n\", nh ? dlsym(nh, \"loupe_nodbg_entry\") : NULL);\n"
	"		}\n"
	"		fflush(stdout);\n"
	"	}\n"
	"	return 0;\n"
	"}\n";

static const char fxlib_cpp[] =
	"namespace loupe_fx {\n"
	"template <typename T> __attribute__((noinline)) T twice(T v) { /* @TWICE */\n"
	"	__asm__ volatile(\"\" ::: \"memory\");\n"
	"	return v + v;\n"
	"}\n"
	"struct Ranker {\n"
	"	static int rank(int x);\n"
	"};\n"
	"__attribute__((noinline)) int Ranker::rank(int x) { /* @RANK */\n"
	"	__asm__ volatile(\"\" ::: \"memory\");\n"
	"	return twice<int>(x) + 1;\n"
	"}\n"
	"}\n"
	"extern \"C\" void *loupe_fx_addr(int which)\n"
	"{\n"
	"	if (which == 0)\n"
	"		return (void *)&loupe_fx::twice<int>;\n"
	"	return (void *)&loupe_fx::Ranker::rank;\n"
	"}\n";

/* Built without -g and stripped to .dynsym, as distributions ship. */
static const char nodbg_c[] =
	"static __attribute__((noinline)) int hidden_helper(int x)\n"
	"{\n"
	"	__asm__ volatile(\"\" ::: \"memory\");\n"
	"	return x + 1;\n"
	"}\n"
	"int loupe_nodbg_entry(int x)\n"
	"{\n"
	"	return hidden_helper(x) * 2;\n"
	"}\n";

static struct {
	char dir[64];
	char exe[128];		/* the C fixture */
	char lib[128];		/* the C++ library, debug info split off */
	char nodbg[128];	/* a C library with .dynsym only */
	unsigned probe_decl, helper_call, outer_decl, outer_call;
	unsigned twice_line, rank_line;
} fx;

struct child {
	pid_t pid;
	int in_fd;
	FILE *out;
	__u64 probe, outer, inl, write_addr;
};

static unsigned line_of(const char *src, const char *marker)
{
	const char *at = strstr(src, marker), *p;
	unsigned line = 1;

	if (!at)
		return 0;
	for (p = src; p < at; p++)
		line += *p == '\n';
	return line;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int err;

	if (!f)
		return -1;
	fputs(text, f);
	err = ferror(f);
	return fclose(f) || err ? -1 : 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = s ? strlen(s) : 0, b = strlen(suffix);

	return s && a >= b && !strcmp(s + a - b, suffix);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads the child's lines until one starting with PREFIX; its value. */
static __u64 child_expect(struct child *c, const char *prefix, __u64 *second)
{
	char line[256], *p;
	__u64 v;

	while (fgets(line, sizeof(line), c->out)) {
		if (strncmp(line, prefix, strlen(prefix)))
			continue;
		v = strtoull(line + strlen(prefix), &p, 16);
		if (second)
			*second = strtoull(p, NULL, 16);
		return v;
	}
	return 0;
}

/* Starts EXE (a copy of the C fixture) with the libraries it loads on
 * command: LIB on 'd' (dlclose()d on 'c'), NODBG on 'n'. */
static void child_start_libs(struct child *c, const char *exe, const char *lib,
			     const char *nodbg)
{
	int in[2], out[2];

	memset(c, 0, sizeof(*c));
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl(exe, exe, lib, nodbg, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->in_fd = in[1];
	c->out = fdopen(out[0], "r");
	assert_non_null(c->out);
	c->probe = child_expect(c, "probe ", NULL);
	c->outer = child_expect(c, "outer ", NULL);
	c->inl = child_expect(c, "inline ", NULL);
	c->write_addr = child_expect(c, "write ", NULL);
	assert_true(c->probe && c->outer && c->inl && c->write_addr);
	assert_int_equal(child_expect(c, "ready", NULL), 0);
}

static void child_start(struct child *c, const char *exe)
{
	child_start_libs(c, exe, fx.lib, fx.nodbg);
}

/* Closing its stdin ends the child. */
static void child_stop(struct child *c)
{
	int status;

	if (c->in_fd > 0)
		close(c->in_fd);
	if (c->out)
		fclose(c->out);
	if (c->pid > 0)
		waitpid(c->pid, &status, 0);
	memset(c, 0, sizeof(*c));
}

/* st_value of NAME in the ELF file PATH (.symtab, else .dynsym), 0 if
 * absent. */
static __u64 elf_symbol(const char *path, const char *name)
{
	Elf_Scn *scn = NULL;
	__u64 v = 0;
	int fd, pass;
	Elf *elf;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	for (pass = 0; elf && pass < 2 && !v; pass++) {
		while (!v && (scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			Elf_Data *d;
			size_t i;

			if (!gelf_getshdr(scn, &sh) ||
			    sh.sh_type != (pass ? SHT_DYNSYM : SHT_SYMTAB))
				continue;
			d = elf_getdata(scn, NULL);
			for (i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
				GElf_Sym sym;
				const char *n;

				if (!gelf_getsym(d, (int)i, &sym))
					continue;
				n = elf_strptr(elf, sh.sh_link, sym.st_name);
				if (n && !strcmp(n, name)) {
					v = sym.st_value;
					break;
				}
			}
		}
	}
	elf_end(elf);
	close(fd);
	return v;
}

/* The GNU build-id of PATH as hex into BUF. */
static void elf_build_id(const char *path, char *buf, size_t len)
{
	const unsigned char *id;
	ssize_t n, i;
	int fd;
	Elf *elf;

	buf[0] = 0;
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	n = elf ? dwelf_elf_gnu_build_id(elf, (const void **)&id) : -1;
	for (i = 0; i < n && (size_t)(2 * i + 2) < len; i++)
		snprintf(buf + 2 * i, 3, "%02x", id[i]);
	elf_end(elf);
	close(fd);
}

/* [start, end) of the first mapping in PID's maps whose line ends with
 * NAME (and, if EXEC, is executable). */
static bool find_mapping(pid_t pid, const char *name, bool exec, __u64 *start,
			 __u64 *end)
{
	char path[64], line[1024];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		char perms[8];

		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "%llx-%llx %7s", &a, &b, perms) != 3 ||
		    !strstr(line, name) || (exec && perms[2] != 'x'))
			continue;
		*start = a;
		*end = b;
		found = true;
	}
	fclose(f);
	return found;
}

static int build_fixtures(void **state)
{
	char cmd[1400];

	(void)state;
	elf_version(EV_CURRENT);
	strcpy(fx.dir, "/tmp/loupe-symtest.XXXXXX");
	if (!mkdtemp(fx.dir))
		return -1;
	snprintf(fx.exe, sizeof(fx.exe), "%s/fixture", fx.dir);
	snprintf(fx.lib, sizeof(fx.lib), "%s/libfx.so", fx.dir);
	snprintf(fx.nodbg, sizeof(fx.nodbg), "%s/libnodbg.so", fx.dir);
	snprintf(cmd, sizeof(cmd), "%s/fixture.c", fx.dir);
	if (write_file(cmd, fixture_c))
		return -1;
	snprintf(cmd, sizeof(cmd), "%s/fxlib.cpp", fx.dir);
	if (write_file(cmd, fxlib_cpp))
		return -1;
	snprintf(cmd, sizeof(cmd), "%s/nodbg.c", fx.dir);
	if (write_file(cmd, nodbg_c))
		return -1;
	fx.probe_decl = line_of(fixture_c, "@PROBE_DECL");
	fx.helper_call = line_of(fixture_c, "@HELPER_CALL");
	fx.outer_decl = line_of(fixture_c, "@OUTER_DECL");
	fx.outer_call = line_of(fixture_c, "@OUTER_CALL");
	fx.twice_line = line_of(fxlib_cpp, "@TWICE");
	fx.rank_line = line_of(fxlib_cpp, "@RANK");
	/* The library's debug info goes into libfx.so.debug next to it,
	 * found through .gnu_debuglink; the check makes sure the strip
	 * really left none behind. */
	snprintf(cmd, sizeof(cmd),
		 "cd %s && gcc -g -O2 -o fixture fixture.c && "
		 "g++ -g -O2 -fPIC -shared -o libfx.so fxlib.cpp && "
		 "objcopy --only-keep-debug libfx.so libfx.so.debug && "
		 "objcopy --strip-debug --add-gnu-debuglink=libfx.so.debug libfx.so && "
		 "! readelf -S libfx.so | grep -q debug_info && "
		 "gcc -O2 -fPIC -shared -o libnodbg.so nodbg.c && "
		 "strip --strip-all libnodbg.so && "
		 "! readelf -S libnodbg.so | grep -q -e symtab -e debug_info",
		 fx.dir);
	if (system(cmd)) {
		fprintf(stderr, "test_symbolize: building fixtures failed: %s\n", cmd);
		return -1;
	}
	return 0;
}

static int remove_fixtures(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx.dir);
	return system(cmd) ? -1 : 0;
}

static void test_function_file_line(void **state)
{
	char build_id[256];
	struct sym_frame f[8];
	struct symbolizer *s;
	struct child c;
	int n;

	(void)state;
	child_start(&c, fx.exe);
	s = symbolizer_new(c.pid);
	assert_non_null(s);
	n = symbolizer_user(s, c.probe, f, 8);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].function, "probe");
	assert_false(f[0].inlined);
	assert_true(ends_with(f[0].file, "/fixture.c"));
	/* the entry's line: the declaration, its brace or the first line */
	assert_in_range(f[0].line, fx.probe_decl, fx.probe_decl + 2);
	assert_string_equal(f[0].module, fx.exe);
	/* ld puts text at equal file offset and vaddr: the symbol value */
	assert_int_equal(f[0].module_offset, elf_symbol(fx.exe, "probe"));
	elf_build_id(fx.exe, build_id, sizeof(build_id));
	assert_true(build_id[0]);
	assert_non_null(f[0].build_id);
	assert_string_equal(f[0].build_id, build_id);

	/* outer_fn's first instruction already belongs to the inlined
	 * helper (gcc -O2 starts it with the call): the real function
	 * comes last whatever the chain */
	n = symbolizer_user(s, c.outer, f, 8);
	assert_true(n >= 1);
	assert_string_equal(f[n - 1].function, "outer_fn");
	assert_false(f[n - 1].inlined);
	assert_in_range(f[n - 1].line, fx.outer_decl, fx.outer_call);
	assert_int_equal(f[n - 1].module_offset, elf_symbol(fx.exe, "outer_fn"));
	symbolizer_free(s);
	child_stop(&c);
}

static void test_inline_frames(void **state)
{
	struct symbolizer_stats st;
	struct sym_frame f[8], g[8];
	struct symbolizer *s;
	struct child c;
	int n;

	(void)state;
	child_start(&c, fx.exe);
	s = symbolizer_new(c.pid);
	assert_non_null(s);
	/* a return address, minus one as the header asks of callers */
	n = symbolizer_user(s, c.inl - 1, f, 8);
	assert_int_equal(n, 2);
	assert_string_equal(f[0].function, "helper");
	assert_true(f[0].inlined);
	assert_true(ends_with(f[0].file, "/fixture.c"));
	assert_int_equal(f[0].line, fx.helper_call);
	assert_string_equal(f[1].function, "outer_fn");
	assert_false(f[1].inlined);
	assert_true(ends_with(f[1].file, "/fixture.c"));
	assert_int_equal(f[1].line, fx.outer_call);
	assert_ptr_equal(f[0].module, f[1].module);
	assert_int_equal(f[0].module_offset, f[1].module_offset);

	/* again, from the cache, and cut to one frame: the real function */
	symbolizer_stats(s, &st);
	assert_int_equal(st.cache_hits, 0);
	n = symbolizer_user(s, c.inl - 1, g, 1);
	assert_int_equal(n, 1);
	assert_string_equal(g[0].function, "outer_fn");
	assert_int_equal(g[0].line, fx.outer_call);
	symbolizer_stats(s, &st);
	assert_int_equal(st.cache_hits, 1);
	assert_int_equal(st.lookups, 2);

	/* interned: another address in outer_fn shares the strings */
	n = symbolizer_user(s, c.outer, g, 8);
	assert_true(n >= 1);
	assert_ptr_equal(g[n - 1].function, f[1].function);
	assert_ptr_equal(g[n - 1].file, f[1].file);
	symbolizer_free(s);
	child_stop(&c);
}

static void test_elf_symbols_only(void **state)
{
	struct sym_frame f[8];
	struct symbolizer *s;
	struct child c;
	__u64 nodbg;
	int n;

	(void)state;
	child_start(&c, fx.exe);
	assert_int_equal(write(c.in_fd, "n", 1), 1);
	nodbg = child_expect(&c, "nodbg ", NULL);
	assert_true(nodbg);
	s = symbolizer_new(c.pid);
	assert_non_null(s);

	/* libc: DWARF if libc6-dbg is installed, .dynsym otherwise */
	n = symbolizer_user(s, c.write_addr, f, 8);
	assert_true(n >= 1);
	assert_non_null(strstr(f[n - 1].function, "write"));
	assert_non_null(strstr(f[n - 1].module, "libc.so"));
	assert_non_null(f[n - 1].build_id);
	/* inside the function, too (a sampled PC rarely is its entry) */
	n = symbolizer_user(s, c.write_addr + 4, f, 8);
	assert_true(n >= 1);
	assert_non_null(strstr(f[n - 1].function, "write"));

	/* a library with nothing but .dynsym */
	n = symbolizer_user(s, nodbg, f, 8);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].function, "loupe_nodbg_entry");
	assert_null(f[0].file);
	assert_int_equal(f[0].line, 0);
	assert_string_equal(f[0].module, fx.nodbg);
	assert_non_null(f[0].build_id);
	n = symbolizer_user(s, nodbg + 2, f, 8);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].function, "loupe_nodbg_entry");
	symbolizer_free(s);
	child_stop(&c);
}

static void test_unknown_addresses(void **state)
{
	struct sym_frame f[8];
	struct symbolizer *s;
	struct child c;
	__u64 base;
	int n;

	(void)state;
	child_start(&c, fx.exe);
	s = symbolizer_new(c.pid);
	assert_non_null(s);
	/* unmapped */
	n = symbolizer_user(s, 0x10, f, 8);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].function, SYM_UNKNOWN);
	assert_null(f[0].module);
	assert_null(f[0].file);
	assert_int_equal(f[0].module_offset, 0x10);
	/* mapped, but the ELF header, which no symbol covers */
	base = c.outer - elf_symbol(fx.exe, "outer_fn");
	n = symbolizer_user(s, base + 0x10, f, 8);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].function, SYM_UNKNOWN);
	assert_string_equal(f[0].module, fx.exe);
	assert_int_equal(f[0].module_offset, 0x10);
	/* a kernel address is no user address */
	n = symbolizer_user(s, 0xffffffff81000000ull, f, 8);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].function, SYM_UNKNOWN);
	symbolizer_free(s);
	child_stop(&c);
}

static void test_cxx_dlopen_separate_debuginfo(void **state)
{
	struct symbolizer_stats st0, st1;
	struct sym_frame f[8];
	const char *name;
	struct symbolizer *s;
	__u64 twice, rank;
	struct child c;
	int n;

	(void)state;
	child_start(&c, fx.exe);
	s = symbolizer_new(c.pid);
	assert_non_null(s);
	assert_int_equal(write(c.in_fd, "d", 1), 1);
	twice = child_expect(&c, "cxx ", &rank);
	assert_true(twice && rank);

	/* mapped after the symbolizer read the maps */
	n = symbolizer_user(s, twice, f, 8);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].function, SYM_UNKNOWN);
	assert_null(f[0].module);

	assert_int_equal(symbolizer_refresh(s), 0);
	n = symbolizer_user(s, twice, f, 8);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].function, "int loupe_fx::twice<int>(int)");
	assert_string_equal(f[0].module, fx.lib);
	/* file:line come from libfx.so.debug */
	assert_true(ends_with(f[0].file, "/fxlib.cpp"));
	assert_in_range(f[0].line, fx.twice_line, fx.twice_line + 2);
	n = symbolizer_user(s, rank, f, 8);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].function, "loupe_fx::Ranker::rank(int)");
	name = f[0].function;
	assert_true(ends_with(f[0].file, "/fxlib.cpp"));
	assert_in_range(f[0].line, fx.rank_line, fx.rank_line + 2);
	/* modules mapped before are still there */
	n = symbolizer_user(s, c.probe, f, 8);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].function, "probe");

	/* dlclose(): gone from the maps, gone after a refresh (and the
	 * strings handed out before stay valid) */
	symbolizer_stats(s, &st0);
	assert_int_equal(write(c.in_fd, "c", 1), 1);
	assert_int_equal(child_expect(&c, "closed ", NULL), 1);
	assert_int_equal(symbolizer_refresh(s), 0);
	symbolizer_stats(s, &st1);
	assert_true(st1.modules < st0.modules);
	n = symbolizer_user(s, twice, f, 8);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].function, SYM_UNKNOWN);
	assert_null(f[0].module);
	assert_string_equal(name, "loupe_fx::Ranker::rank(int)");
	symbolizer_free(s);
	child_stop(&c);
}

static void test_refresh_unchanged(void **state)
{
	struct symbolizer_stats st0, st1;
	struct sym_frame f[8];
	struct symbolizer *s;
	struct child c;
	double t0, t1;
	int i;

	(void)state;
	child_start(&c, fx.exe);
	s = symbolizer_new(c.pid);
	assert_non_null(s);
	assert_int_equal(symbolizer_user(s, c.probe, f, 8), 1);
	symbolizer_stats(s, &st0);
	t0 = now_s();
	for (i = 0; i < 100; i++)
		assert_int_equal(symbolizer_refresh(s), 0);
	t1 = now_s();
	symbolizer_stats(s, &st1);
	assert_int_equal(st1.refreshes, st0.refreshes);
	assert_int_equal(st1.modules, st0.modules);
	assert_true(st0.modules >= 3);	/* fixture, libc, ld.so (+ vdso) */
	printf("# symbolize: refresh with unchanged maps: %.1f us\n",
	       (t1 - t0) / 100 * 1e6);
	symbolizer_free(s);
	child_stop(&c);
}

static void test_deleted_binary(void **state)
{
	char path[160], cmd[400];
	struct sym_frame f[8];
	struct symbolizer *s;
	struct child c;
	int n;

	(void)state;
	snprintf(path, sizeof(path), "%s/fixture-deleted", fx.dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s", fx.exe, path);
	assert_int_equal(system(cmd), 0);
	child_start(&c, path);
	assert_int_equal(unlink(path), 0);
	s = symbolizer_new(c.pid);
	assert_non_null(s);
	n = symbolizer_user(s, c.inl - 1, f, 8);
	assert_int_equal(n, 2);
	assert_string_equal(f[0].function, "helper");
	assert_int_equal(f[0].line, fx.helper_call);
	assert_string_equal(f[1].function, "outer_fn");
	assert_int_equal(f[1].line, fx.outer_call);
	assert_string_equal(f[1].module, path);
	assert_non_null(f[1].build_id);
	symbolizer_free(s);
	child_stop(&c);
}

static void test_deleted_library(void **state)
{
	char path[160], cmd[400];
	struct sym_frame f[8];
	struct symbolizer *s;
	struct child c;
	__u64 addr;
	int n;

	(void)state;
	snprintf(path, sizeof(path), "%s/libnodbg-deleted.so", fx.dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s", fx.nodbg, path);
	assert_int_equal(system(cmd), 0);
	child_start_libs(&c, fx.exe, fx.lib, path);
	assert_int_equal(write(c.in_fd, "n", 1), 1);
	addr = child_expect(&c, "nodbg ", NULL);
	assert_true(addr);
	assert_int_equal(unlink(path), 0);
	s = symbolizer_new(c.pid);
	assert_non_null(s);
	n = symbolizer_user(s, addr, f, 8);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].module, path);
	/* Only /proc/PID/map_files reaches a deleted library, and it takes
	 * CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE): without, the module is
	 * still known but its symbols are not. */
	if (geteuid() == 0)
		assert_string_equal(f[0].function, "loupe_nodbg_entry");
	else
		printf("# symbolize: not root: deleted library not readable (%s)\n",
		       f[0].function);
	symbolizer_free(s);
	child_stop(&c);
}

static void test_vdso(void **state)
{
	const Elf64_Ehdr *eh = (const void *)getauxval(AT_SYSINFO_EHDR);
	__u64 start, end, value = 0;
	Elf_Scn *scn = NULL;
	struct sym_frame f[8];
	struct symbolizer *s;
	struct child c;
	Elf *elf;
	size_t i;
	int n;

	(void)state;
	if (!eh)
		skip();
	/* Where clock_gettime lies in our vDSO, which is the child's. */
	elf = elf_memory((char *)eh, eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize);
	while (elf && !value && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t i;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM)
			continue;
		d = elf_getdata(scn, NULL);
		for (i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *nm;

			if (gelf_getsym(d, (int)i, &sym) &&
			    (nm = elf_strptr(elf, sh.sh_link, sym.st_name)) &&
			    !strcmp(nm, "__vdso_clock_gettime"))
				value = sym.st_value;
		}
	}
	/* symbol values are link-time addresses: relative to the first
	 * PT_LOAD, which is where the mapping starts */
	for (i = 0; elf && i < eh->e_phnum; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD) {
			value -= ph.p_vaddr & ~(__u64)4095;
			break;
		}
	}
	elf_end(elf);
	assert_true(value);

	child_start(&c, fx.exe);
	assert_true(find_mapping(c.pid, "[vdso]", true, &start, &end));
	s = symbolizer_new(c.pid);
	assert_non_null(s);
	n = symbolizer_user(s, start + value, f, 8);
	assert_int_equal(n, 1);
	assert_non_null(strstr(f[0].function, "clock_gettime"));
	assert_string_equal(f[0].module, "[vdso]");
	symbolizer_free(s);
	child_stop(&c);
}

static void test_dead_process(void **state)
{
	struct sym_frame f[8];
	struct symbolizer *s;
	__u64 probe, wr;
	struct child c;
	pid_t pid;
	int n;

	(void)state;
	child_start(&c, fx.exe);
	pid = c.pid;
	probe = c.probe;
	wr = c.write_addr;
	s = symbolizer_new(c.pid);
	assert_non_null(s);
	assert_int_equal(symbolizer_user(s, probe, f, 8), 1);
	kill(c.pid, SIGKILL);
	child_stop(&c);
	assert_int_equal(symbolizer_refresh(s), -ESRCH);
	/* resolved while it lived: from the cache */
	n = symbolizer_user(s, probe, f, 8);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].function, "probe");
	/* libc was never opened while it lived: the path, checked to be the
	 * same inode, serves */
	n = symbolizer_user(s, wr, f, 8);
	assert_true(n >= 1);
	assert_non_null(strstr(f[n - 1].function, "write"));
	symbolizer_free(s);

	errno = 0;
	assert_null(symbolizer_new(pid));
	assert_int_equal(errno, ESRCH);
}

static void test_kernel(void **state)
{
	static const char *const wanted[] = {
		"do_sys_openat2", "do_sys_open", "ksys_read", "vfs_read",
		"schedule",
	};
	unsigned long long addr, pick = 0, other;
	char line[512], type, name[256], pick_name[256] = "";
	struct symbolizer *s, *s2;
	double t0, t1, t2, t3;
	bool nonzero = false;
	struct sym_frame f;
	size_t i;
	FILE *k;

	(void)state;
	s = symbolizer_new(getpid());
	assert_non_null(s);
	k = fopen("/proc/kallsyms", "r");
	if (!k) {
		symbolizer_free(s);
		skip();
	}
	for (i = 0; i < sizeof(wanted) / sizeof(wanted[0]) && !pick; i++) {
		rewind(k);
		while (fgets(line, sizeof(line), k)) {
			if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3)
				continue;
			nonzero |= addr != 0;
			if (type == 'T' && !strcmp(name, wanted[i]) && addr) {
				pick = addr;
				strcpy(pick_name, name);
				break;
			}
		}
	}
	if (!nonzero && !pick) {
		/* kptr_restrict: every address reads as zero */
		fclose(k);
		assert_int_equal(symbolizer_kernel(s, 0xffffffff81000000ull, &f), 1);
		assert_string_equal(f.function, SYM_UNKNOWN);
		symbolizer_free(s);
		printf("# symbolize: kallsyms shows no addresses, kernel case skipped\n");
		skip();
	}
	assert_true(pick);
	/* an alias at the same address would make the answer ambiguous */
	rewind(k);
	while (fgets(line, sizeof(line), k)) {
		if (sscanf(line, "%llx %c %255s", &other, &type, name) == 3 &&
		    other == pick && strcmp(name, pick_name))
			fail_msg("%s shares its address with %s", pick_name, name);
	}
	fclose(k);
	assert_int_equal(symbolizer_kernel(s, pick, &f), 1);
	assert_string_equal(f.function, pick_name);
	assert_string_equal(f.module, SYM_KERNEL);
	assert_int_equal(f.module_offset, pick);
	assert_null(f.file);
	assert_int_equal(symbolizer_kernel(s, pick + 1, &f), 1);
	assert_string_equal(f.function, pick_name);
	/* below the kernel: nothing */
	assert_int_equal(symbolizer_kernel(s, 0x1000, &f), 1);
	assert_string_equal(f.function, SYM_UNKNOWN);

	/* one table for all symbolizers: it outlives the first one freed */
	s2 = symbolizer_new(getpid());
	assert_non_null(s2);
	assert_int_equal(symbolizer_kernel(s2, pick, &f), 1);
	assert_string_equal(f.function, pick_name);
	symbolizer_free(s);
	t0 = now_s();
	for (i = 0; i < 1000000; i++)
		symbolizer_kernel(s2, pick + (i & 0xf), &f);
	t1 = now_s();
	assert_string_equal(f.function, pick_name);
	symbolizer_free(s2);
	/* and a new one reads kallsyms again */
	s = symbolizer_new(getpid());
	assert_non_null(s);
	t2 = now_s();
	assert_int_equal(symbolizer_kernel(s, pick, &f), 1);
	t3 = now_s();
	assert_string_equal(f.function, pick_name);
	printf("# symbolize: kernel: kallsyms read in %.1f ms, %.0f lookups/s\n",
	       (t3 - t2) * 1e3, 1e6 / (t1 - t0));
	symbolizer_free(s);
}

static void test_bad_arguments(void **state)
{
	struct sym_frame f[2];
	struct symbolizer *s;

	(void)state;
	symbolizer_free(NULL);
	errno = 0;
	assert_null(symbolizer_new(0));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(symbolizer_new(-5));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(symbolizer_new(4194303));	/* above pid_max's ceiling */
	assert_int_equal(errno, ESRCH);
	assert_int_equal(symbolizer_refresh(NULL), -EINVAL);
	assert_int_equal(symbolizer_user(NULL, 1, f, 2), -EINVAL);
	assert_int_equal(symbolizer_kernel(NULL, 1, f), -EINVAL);
	s = symbolizer_new(getpid());
	assert_non_null(s);
	assert_int_equal(symbolizer_user(s, 1, f, 0), -EINVAL);
	assert_int_equal(symbolizer_user(s, 1, NULL, 2), -EINVAL);
	assert_int_equal(symbolizer_kernel(s, 1, NULL), -EINVAL);
	symbolizer_free(s);
}

/* Resolves V[0..n) twice with one symbolizer for PID: cold, then warm. */
static void measure(const char *what, pid_t pid, const __u64 *v, size_t n)
{
	size_t i, named = 0, lines = 0, frames = 0;
	struct sym_frame f[16];
	struct symbolizer *s;
	double t0, t1, t2, t3;
	int k;

	t0 = now_s();
	s = symbolizer_new(pid);
	assert_non_null(s);
	t1 = now_s();
	for (i = 0; i < n; i++) {
		k = symbolizer_user(s, v[i], f, 16);
		assert_true(k >= 1);
		named += strcmp(f[k - 1].function, SYM_UNKNOWN) != 0;
		lines += f[0].line != 0;
		frames += k;
	}
	t2 = now_s();
	for (i = 0; i < n; i++)
		assert_true(symbolizer_user(s, v[i], f, 16) >= 1);
	t3 = now_s();
	printf("# symbolize: %s: %zu addresses, %zu named, %zu with a line, "
	       "%.2f frames each; attach %.2f ms, cold %.0f/s, warm %.0f/s\n",
	       what, n, named, lines, (double)frames / n, (t1 - t0) * 1e3,
	       n / (t2 - t1), n / (t3 - t2));
	symbolizer_free(s);
}

/* Every STRIDE-th address of the first executable mapping of NAME in our
 * own process, measured. */
static void measure_mapping(const char *what, const char *name, unsigned stride)
{
	__u64 start, end, a, *v;
	size_t n = 0;

	if (!find_mapping(getpid(), name, true, &start, &end)) {
		printf("# symbolize: %s: not mapped, not measured\n", what);
		return;
	}
	v = malloc(((end - start) / stride + 1) * sizeof(*v));
	assert_non_null(v);
	for (a = start; a < end; a += stride)
		v[n++] = a;
	measure(what, getpid(), v, n);
	free(v);
}

static void test_throughput(void **state)
{
	char self[4096];
	ssize_t len;

	(void)state;
	/* this test binary: built -O2 -g, so DWARF with inline chains */
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(len > 0);
	self[len] = 0;
	measure_mapping("test binary (DWARF)", self, 3);
	/* DWARF where libc6-dbg is installed, else .dynsym */
	measure_mapping("libc", "/libc.so", 16);
	/* libstdc++ is mapped once a C++ name was demangled: symbols only,
	 * mangled */
	measure_mapping("libstdc++", "/libstdc++.so", 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_function_file_line),
		cmocka_unit_test(test_inline_frames),
		cmocka_unit_test(test_elf_symbols_only),
		cmocka_unit_test(test_unknown_addresses),
		cmocka_unit_test(test_cxx_dlopen_separate_debuginfo),
		cmocka_unit_test(test_refresh_unchanged),
		cmocka_unit_test(test_deleted_binary),
		cmocka_unit_test(test_deleted_library),
		cmocka_unit_test(test_vdso),
		cmocka_unit_test(test_dead_process),
		cmocka_unit_test(test_kernel),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_throughput),
	};

	/* A child that never answers must not hang the suite. */
	alarm(240);
	return cmocka_run_group_tests(tests, build_fixtures, remove_fixtures);
}
