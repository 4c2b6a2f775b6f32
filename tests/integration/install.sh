#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make install puts loupe, the headers, loupe.pc and the man page in place,
# and another project instruments itself with them, from C and from C++.
source "$(dirname "$0")/lib.sh"

make -s install DESTDIR="$T/root" PREFIX=/opt/loupe OUT="$OUT" >/dev/null || fail "make install"
for f in bin/loupe include/loupe/probe.h include/loupe/probe_abi.h \
	lib/pkgconfig/loupe.pc share/man/man1/loupe.1; do
	[ -e "$T/root/opt/loupe/$f" ] || fail "missing $f"
done
"$T/root/opt/loupe/bin/loupe" version | grep -q '^loupe ' || fail "installed loupe does not run"

cat >"$T/user.c" <<'SRC'
#include <loupe/probe.h>
int main(void)
{
	LOUPE_MODEL("m");
	LOUPE_REQUEST_BEGIN(1, "m", 1);
	LOUPE_STAGE_BEGIN("s");
	LOUPE_STAGE_END("s");
	LOUPE_REQUEST_END(1, 0);
	LOUPE_IDLE();
	return 0;
}
SRC
cp "$T/user.c" "$T/user.cc"
export PKG_CONFIG_PATH="$T/root/opt/loupe/lib/pkgconfig"
flags=$(pkg-config --define-prefix --cflags --libs loupe) || fail "pkg-config loupe"
gcc -Wall -Wextra -Werror -Wmissing-prototypes "$T/user.c" $flags -o "$T/user_c" || fail "C user does not build"
gcc -Wall -Wextra -Werror -pedantic -std=c11 -D_POSIX_C_SOURCE=200809L "$T/user.c" $flags \
	-o "$T/user_c11" 2>"$T/c11.err" || fail "strict C11 user does not build: $(head -5 "$T/c11.err")"
g++ -Wall -Wextra -Werror "$T/user.cc" $flags -o "$T/user_cc" || fail "C++ user does not build"
"$T/user_c" && "$T/user_cc" || fail "instrumented users do not run"
# the probes are standard USDT notes, visible to any tool
readelf -n "$T/user_cc" | grep -q "Provider: loupe" || fail "no USDT notes in the C++ user"
echo pass
