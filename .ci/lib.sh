# .ci/lib.sh — helpers shared by the .ci scripts (sourced, not run).
#
# Daemons started with start_daemon write their pid to $FERRY_STATE/pids/
# and their output to $FERRY_STATE/logs/, so stop_daemon (and thus the
# *-down scripts and .ci/run's exit trap) stop exactly what was started,
# by pid, and only if that pid still runs the same program.

# shellcheck disable=SC2034 # used by the scripts that source this file
CI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$CI_DIR/.." && pwd)
FERRY_CACHE=${FERRY_CACHE:-$HOME/.cache/ferry}
FERRY_STATE=${FERRY_STATE:-/tmp/ferry-state}
BIN=$FERRY_CACHE/bin
PIDS=$FERRY_STATE/pids
LOGS=$FERRY_STATE/logs
mkdir -p "$PIDS" "$LOGS"

log() { printf '[%s %(%H:%M:%S)T] %s\n' "${LOG_TAG:-ci}" -1 "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# running NAME: true when the daemon NAME started by start_daemon still runs.
running() {
	local pid
	pid=$(cat "$PIDS/$1.pid" 2>/dev/null) || return 1
	[[ -r /proc/$pid/cmdline ]] || return 1
	# The pid may have been reused: check it still runs our binary.
	[[ $(tr '\0' ' ' <"/proc/$pid/cmdline") == *"$(cat "$PIDS/$1.cmd" 2>/dev/null)"* ]]
}

# start_daemon NAME PROGRAM ARGS...: run PROGRAM detached, output to
# $LOGS/NAME.log (appended; each start is marked).
start_daemon() {
	local name=$1
	shift
	echo "=== $(date -u +%FT%TZ) start: $*" >>"$LOGS/$name.log"
	setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
	echo $! >"$PIDS/$name.pid"
	echo "$1" >"$PIDS/$name.cmd"
}

# stop_daemon NAME [SECONDS]: SIGTERM the daemon, SIGKILL after SECONDS
# (default 10); no-op if it is gone.
stop_daemon() {
	local name=$1 grace=${2:-10} pid i
	if running "$name"; then
		pid=$(cat "$PIDS/$name.pid")
		kill "$pid" 2>/dev/null || true
		for ((i = 0; i < grace * 10; i++)); do
			[[ -e /proc/$pid ]] || break
			sleep 0.1
		done
		if [[ -e /proc/$pid ]]; then
			log "$name (pid $pid) still running ${grace}s after SIGTERM; killing"
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$PIDS/$name.pid" "$PIDS/$name.cmd"
}

# wait_for SECONDS WHAT COMMAND...: retry COMMAND every 0.5 s until it
# succeeds; on timeout fail, pointing at the daemon log named by $WAIT_LOG.
wait_for() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			if [[ -n ${WAIT_LOG:-} && -f $LOGS/$WAIT_LOG.log ]]; then
				log "last lines of $LOGS/$WAIT_LOG.log:"
				tail -n 30 "$LOGS/$WAIT_LOG.log" >&2
			fi
			die "timed out after ${secs}s waiting for $what"
		fi
		sleep 0.5
	done
}

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
