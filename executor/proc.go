package executor

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// exitStatus is how a process ended.
type exitStatus struct {
	code   int    // shell-style: 128+N when killed by signal N
	signal string // signal name without "SIG", or ""
}

// runner starts processes on a host: the part that [Client] and [Local]
// do differently. Everything above it (scripts, pipelines, output,
// cancellation) is shared.
type runner interface {
	// start runs script (see bootstrap) with stdin after it, copying the
	// process's output to stdout and stderr. control selects the
	// reserved slot used to stop other processes.
	start(ctx context.Context, script string, stdin io.Reader, stdout, stderr io.Writer, control bool) (proc, error)
	host() string
	log() *slog.Logger
	sudoPassword() string
}

// proc is a started process.
type proc interface {
	// wait waits for the process to exit and its output to be copied
	// (at most waitDelay after it exited, when waitDelay > 0). The error
	// is a *TransportError when the connection failed, ErrNoExitStatus,
	// or ErrWaitDelay.
	wait(waitDelay time.Duration) (exitStatus, error)
	// abort releases the process's resources at once (closing the
	// session), without waiting.
	abort()
}

const defaultGrace = 5 * time.Second

// stop sends SIGTERM to process group pgid on r, waits up to grace for
// done, then sends SIGKILL. It reports whether SIGKILL was needed.
func stop(r runner, pgid int, grace time.Duration, sudo bool, done <-chan struct{}) bool {
	if pgid <= 1 {
		return false
	}
	if grace <= 0 {
		grace = defaultGrace
	}
	signal(r, pgid, "TERM", sudo)
	select {
	case <-done:
		return false
	case <-time.After(grace):
	}
	signal(r, pgid, "KILL", sudo)
	return true
}

func signal(r runner, pgid int, sig string, sudo bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := r.start(ctx, killScript(pgid, sig, sudo), nil, io.Discard, io.Discard, true)
	if err != nil {
		r.log().Warn("could not signal process group", "host", r.host(), "pgid", pgid, "signal", sig, "err", err)
		return
	}
	p.wait(5 * time.Second)
}
