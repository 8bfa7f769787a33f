package executor

import (
	"context"
	"io"
	"log/slog"
	"sync"
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

// stop sends SIGTERM to the processes of t on r, waits up to grace for
// one of done to close, then sends SIGKILL. It reports whether SIGKILL was
// needed before done closed; when done closes first, SIGKILL still goes
// to what is left of t once grace has passed, in the background.
func stop(r runner, t stopTarget, grace time.Duration, sudo bool, done ...<-chan struct{}) bool {
	if t.pgid <= 1 && t.token == "" {
		return false
	}
	if grace <= 0 {
		grace = defaultGrace
	}
	signal(r, t, "TERM", sudo)
	timer := time.NewTimer(grace)
	select {
	case <-anyClosed(done):
		// What is left (children that ignore SIGTERM and left the
		// process group) still gets SIGKILL when the grace period
		// ends.
		go func() {
			<-timer.C
			signal(r, t, "KILL", sudo)
		}()
		return false
	case <-timer.C:
	}
	signal(r, t, "KILL", sudo)
	return true
}

// anyClosed returns a channel closed once one of chans is closed. Each
// of chans must close eventually.
func anyClosed(chans []<-chan struct{}) <-chan struct{} {
	if len(chans) == 1 {
		return chans[0]
	}
	out := make(chan struct{})
	var once sync.Once
	for _, c := range chans {
		go func() {
			<-c
			once.Do(func() { close(out) })
		}()
	}
	return out
}

func signal(r runner, t stopTarget, sig string, sudo bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := r.start(ctx, killScript(t, sig, sudo), nil, io.Discard, io.Discard, true)
	if err != nil {
		r.log().Warn("could not signal processes", "host", r.host(), "pgid", t.pgid, "signal", sig, "err", err)
		return
	}
	p.wait(5 * time.Second)
}

// stdinGate holds a command's standard input back until the host has
// read the whole script. The bootstrap reads the script with head -c,
// and some heads (busybox's, BSD's) read ahead of their byte count: had
// any of the command's input been sent already, they would swallow it.
// Nothing but the script is on the wire until the script reports its
// process id, which it does only once it runs, so no head can over-read.
// It costs a command that takes input one round trip before that input
// flows; commands without input pay nothing.
type stdinGate struct {
	r    io.Reader
	once sync.Once
	open chan struct{}
	eof  bool // the process ended before it was ready: send nothing
}

func newStdinGate(r io.Reader) *stdinGate {
	return &stdinGate{r: r, open: make(chan struct{})}
}

// Read blocks until the gate is released, then reads the input, or
// reports EOF when the process ended first.
func (g *stdinGate) Read(p []byte) (int, error) {
	<-g.open
	if g.eof {
		return 0, io.EOF
	}
	return g.r.Read(p)
}

// release lets the input through when ready, or ends it when the process
// ended. Only the first call counts; a nil gate is ignored.
func (g *stdinGate) release(ready bool) {
	if g == nil {
		return
	}
	g.once.Do(func() {
		g.eof = !ready
		close(g.open)
	})
}

// exitedAlready is a closed channel: for a process known to have exited.
var exitedAlready = func() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// waitCopies waits for the copying of a process's output (copies) to
// end. With waitDelay > 0, once exited is closed it waits at most
// waitDelay more, then calls cut to close the streams, waits for the
// copying to stop, and returns ErrWaitDelay.
func waitCopies(copies *sync.WaitGroup, exited <-chan struct{}, waitDelay time.Duration, cut func()) error {
	copied := make(chan struct{})
	go func() { copies.Wait(); close(copied) }()
	if waitDelay <= 0 {
		<-copied
		return nil
	}
	select {
	case <-copied:
		return nil
	case <-exited:
	}
	t := time.NewTimer(waitDelay)
	defer t.Stop()
	select {
	case <-copied:
		return nil
	case <-t.C:
		cut()
		<-copied
		return ErrWaitDelay
	}
}
