# SPDX-License-Identifier: MIT
# loupe: one binary, BPF objects with skeletons, the sample server, tests.
# Structure after libbpf-bootstrap: an output folder, %.bpf.c -> %.bpf.o ->
# %.skel.h pattern rules, V=1 for verbose commands.

PREFIX ?= /usr/local
SAN ?= 0
V ?= 0

ifeq ($(SAN),1)
OUT ?= build-san
else
OUT ?= build
endif

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
# clang -target bpf does not search the host's multiarch include folder.
CLANG_BPF_SYS_INCLUDES := $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

VERSION := 0.1.0
WERROR ?= -Werror
CFLAGS ?= -O2 -g
CFLAGS += -Wall -Wextra $(WERROR) -std=gnu11 -D_GNU_SOURCE -fno-omit-frame-pointer \
	  -Iinclude -I. -I$(OUT) -DLOUPE_VERSION='"$(VERSION)"' -MMD -MP
LDLIBS := -lbpf -ldw -lelf -lunwind-x86_64 -lunwind -lz -lzstd -lm -lpthread -lncursesw
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined
ifeq ($(SAN),1)
CFLAGS += $(SAN_FLAGS)
LDFLAGS += $(SAN_FLAGS)
endif

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# Debian packages the project needs (make deps installs the missing ones).
DEB_PKGS := gcc make clang llvm libclang-rt-14-dev bpftool libbpf-dev \
	    libelf-dev libdw-dev libunwind-dev systemtap-sdt-dev libzstd-dev \
	    zstd libcmocka-dev libncurses-dev pkg-config zlib1g-dev \
	    linux-perf util-linux procps jq time golang-go tmux \
	    libxml2-utils

BPF_SRCS := $(wildcard bpf/*.bpf.c)
SKELS := $(patsubst bpf/%.bpf.c,$(OUT)/%.skel.h,$(BPF_SRCS))
CORE_SRCS := log.c $(wildcard collector/*.c analyzer/*.c tui/*.c)
CORE_OBJS := $(patsubst %.c,$(OUT)/obj/%.o,$(CORE_SRCS))
RANKER_SRCS := $(wildcard samples/ranker/*.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRCS))
PROG_SRCS := $(wildcard tests/progs/*.c)
PROG_BINS := $(patsubst tests/progs/%.c,$(OUT)/progs/%,$(PROG_SRCS))
# Test programs built as distributions build: no frame pointers.
NOFP_SRCS := $(wildcard tests/progs/nofp/*.c)
NOFP_BINS := $(patsubst tests/progs/nofp/%.c,$(OUT)/progs/nofp/%,$(NOFP_SRCS))

.PHONY: all deps bench-deps check bench demo install clean format fuzz eval eval-gate
.DELETE_ON_ERROR:
.SECONDARY:

# The allocation-sampling shim (LD_PRELOAD), when its source exists.  Never
# sanitized: it replaces malloc under whatever program preloads it.
SHIM_SRCS := $(wildcard collector/shim/*.c)
SHIM_LIB := $(if $(SHIM_SRCS),$(OUT)/libloupe-alloc.so)

all: $(OUT)/loupe $(OUT)/ranker $(OUT)/ranker-noprobes $(PROG_BINS) \
	$(OUT)/progs/libprobed.so $(NOFP_BINS) $(SHIM_LIB) $(OUT)/progs/ranker-plain

# What make bench compares loupe's memory tracing with.
BENCH_PKGS := heaptrack bpftrace

# $(call apt_missing,TARGET,PACKAGES): apt-get only the missing ones.
define apt_missing
	@missing=""; for p in $(2); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
			|| missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "$(1): all $(words $(2)) packages present"; \
	else echo "$(1): installing$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y --no-install-recommends $$missing \
		|| { apt-get update && apt-get install -y --no-install-recommends $$missing; }; \
	fi
endef

deps:
	$(call apt_missing,deps,$(DEB_PKGS))

bench-deps:
	$(call apt_missing,bench,$(BENCH_PKGS))

$(OUT) $(OUT)/obj $(OUT)/tests $(OUT)/progs:
	$(Q)mkdir -p $@

# The kernel's own BTF describes every type CO-RE relocates against.
$(OUT)/vmlinux.h: | $(OUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(OUT)/%.bpf.o: bpf/%.bpf.c $(OUT)/vmlinux.h $(wildcard bpf/*.bpf.h) $(wildcard include/loupe/*.h) | $(OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(OUT) -Iinclude \
		$(CLANG_BPF_SYS_INCLUDES) -Wall -Werror -c $< -o $@

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(OUT)/obj/%.o: %.c | $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/libloupe.a: $(CORE_OBJS)
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(OUT)/loupe: $(OUT)/obj/loupe.o $(OUT)/libloupe.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

RANKER_CFLAGS := $(filter-out -MMD -MP,$(CFLAGS)) -pthread
$(OUT)/ranker: $(RANKER_SRCS) $(wildcard samples/ranker/*.h) include/loupe/probe.h include/loupe/probe_abi.h | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(RANKER_CFLAGS) $(RANKER_SRCS) $(LDFLAGS) -lm -o $@

$(OUT)/ranker-noprobes: $(RANKER_SRCS) $(wildcard samples/ranker/*.h) include/loupe/probe.h | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(RANKER_CFLAGS) -DLOUPE_DISABLE=1 $(RANKER_SRCS) $(LDFLAGS) -lm -o $@

# Test programs are fixtures with known answers (a 70/30 CPU split, known
# sleeps): never sanitized, since instrumentation would change the answers.
PROG_CFLAGS := $(filter-out $(SAN_FLAGS),$(RANKER_CFLAGS))
$(OUT)/progs/%: tests/progs/%.c include/loupe/probe.h | $(OUT)/progs
	$(call msg,CC,$@)
	$(Q)$(CC) $(PROG_CFLAGS) $< -o $@

$(OUT)/progs/nofp/%: tests/progs/nofp/%.c include/loupe/probe.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -fomit-frame-pointer -std=gnu11 -D_GNU_SOURCE -Iinclude -pthread $< $(LDFLAGS) -o $@

$(OUT)/libloupe-alloc.so: $(SHIM_SRCS) $(wildcard collector/shim/*.h) $(wildcard include/loupe/*.h) | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(filter-out -MMD -MP $(SAN_FLAGS),$(CFLAGS)) -shared -fPIC \
		-fvisibility=hidden $(SHIM_SRCS) -pthread -ldl -o $@

# The ranker never sanitized: the allocation shim replaces malloc, which
# ASan's runtime must own (tests/integration/mem_leak.sh under SAN=1).
$(OUT)/progs/ranker-plain: $(RANKER_SRCS) $(wildcard samples/ranker/*.h) include/loupe/probe.h | $(OUT)/progs
	$(call msg,CC,$@)
	$(Q)$(CC) $(PROG_CFLAGS) $(RANKER_SRCS) -lm -o $@

$(OUT)/progs/libprobed.so: tests/progs/lib/probed.c include/loupe/probe.h | $(OUT)/progs
	$(call msg,CC,$@)
	$(Q)$(CC) $(PROG_CFLAGS) -shared -fPIC $< -o $@

$(OUT)/tests/%: tests/unit/%.c $(OUT)/libloupe.a $(wildcard include/loupe/*.h) | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $< $(OUT)/libloupe.a $(LDFLAGS) -lcmocka $(LDLIBS) -o $@

# libFuzzer needs clang; the target is always built with ASan+UBSan.
FUZZ_SRCS := analyzer/hist.c analyzer/crc32c.c analyzer/trace_codec.c analyzer/trace_codec_profile.c \
	     analyzer/trace_reader.c collector/trace_writer.c
$(OUT)/fuzz_trace_reader: tests/fuzz/fuzz_trace_reader.c $(FUZZ_SRCS) | $(OUT)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) -g -O1 -Wall -Werror -fsanitize=fuzzer,address,undefined -Iinclude -I. $^ -lzstd -lm -o $@

FUZZ_SECONDS ?= 60
fuzz: $(OUT)/fuzz_trace_reader
	@mkdir -p $(OUT)/fuzz-corpus
	$(OUT)/fuzz_trace_reader -max_total_time=$(FUZZ_SECONDS) $(OUT)/fuzz-corpus

check: deps
	$(MAKE) all $(UNIT_BINS) $(OUT)/fuzz_trace_reader
	@OUT=$(OUT) SAN=$(SAN) tests/run.sh

bench: deps bench-deps all
	@OUT=$(OUT) tests/bench/run.sh

# False-fail and detection rates of 'loupe gate' (K=16 make eval-gate).
eval-gate: deps all
	@OUT=$(OUT) tests/eval/gate.sh

# Every fault scenario under loupe: found? fix proposed? false findings?
eval: deps all $(OUT)/progs/ranker-plain $(SHIM_LIB)
	@OUT=$(OUT) samples/scenarios/eval.sh

demo: deps all
	@OUT=$(OUT) samples/demo.sh

install: $(OUT)/loupe
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/loupe \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(OUT)/loupe $(DESTDIR)$(PREFIX)/bin/loupe
	install -m 0644 include/loupe/probe.h include/loupe/probe_abi.h \
		include/loupe/trace.h $(DESTDIR)$(PREFIX)/include/loupe/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
		loupe.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/loupe.pc
	install -m 0644 docs/loupe.1 $(DESTDIR)$(PREFIX)/share/man/man1/loupe.1
	install -d $(DESTDIR)$(PREFIX)/share/loupe/rules
	install -m 0644 analyzer/rules/*.rules $(DESTDIR)$(PREFIX)/share/loupe/rules/

format:
	clang-format -i $(wildcard *.c *.h */*.c */*.h samples/ranker/*.[ch] tests/*/*.c)

clean:
	rm -rf build build-san build-*

-include $(wildcard $(OUT)/obj/*.d $(OUT)/obj/*/*.d)
