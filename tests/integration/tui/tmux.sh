# SPDX-License-Identifier: MIT
# Driving `loupe top` through tmux, for the top_* tests (in a folder of its
# own: tests/run.sh runs every tests/integration/*.sh): a private tmux
# server, sessions of a given size, and polling the pane (never fixed
# sleeps).  Source after lib.sh.
command -v tmux >/dev/null || skip "needs tmux (make deps installs it)"
TMUX_SOCK=loupe-test-$$
unset TMUX

tmux_() { tmux -L "$TMUX_SOCK" "$@"; }

cleanup_tmux() {
	tmux_ kill-server 2>/dev/null
	cleanup
}
trap cleanup_tmux EXIT

# tui_start NAME COLS ROWS CMD: runs CMD in a new detached session; when
# it exits the pane prints "EXIT=<status>" and stays (for the asserts).
tui_start() {
	local name=$1 cols=$2 rows=$3; shift 3
	tmux_ new-session -d -s "$name" -x "$cols" -y "$rows" \
		"$*; echo EXIT=\$?; sleep 600" || fail "tmux new-session $name"
}

# pane NAME: the visible screen of NAME, one line per row (-J: lines the
# shell wrapped are joined).
pane() { tmux_ capture-pane -p -J -t "$1"; }

keys() { local name=$1; shift; tmux_ send-keys -t "$name" "$@"; }

# wait_pane NAME SECONDS ERE: polls until the pane matches ERE; on a
# timeout, shows the pane and fails.
wait_pane() {
	local name=$1 secs=$2 re=$3 deadline=$((SECONDS + $2))
	while ! pane "$name" | grep -Eq -- "$re"; do
		if [ $SECONDS -ge $deadline ]; then
			echo "--- pane $name after ${secs}s:"
			pane "$name"
			fail "pane $name: no /$re/ within ${secs}s"
		fi
		sleep 0.2
	done
	echo "ok: pane $name shows /$re/"
}
