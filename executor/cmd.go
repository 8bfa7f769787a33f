package executor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/internal/shquote"
)

// Cmd is a command to run on a host, modeled on [os/exec.Cmd]. Create it
// with [Client.Command] or [Local.Command], set its fields, then call
// [Cmd.Run], [Cmd.Output] or [Cmd.CombinedOutput], or [Cmd.Start]
// followed by [Cmd.Wait]. A Cmd cannot be reused after calling one of
// them.
type Cmd struct {
	// Args is the command: Args[0] is the program, looked up in the
	// remote PATH. Each element reaches the program unchanged, whatever
	// bytes it holds (except NUL, which argv cannot carry).
	Args []string

	// Env lists "KEY=value" pairs added to the login environment. Values
	// are taken literally. Nil means the login environment unchanged.
	Env []string

	// Dir is the working directory. Empty means the login user's home.
	Dir string

	// User runs the command as that user through sudo (sudo -n, or with
	// [Config.SudoPassword]). Empty means the login user.
	User string

	// Stdin is the command's standard input. Nil means empty input. It
	// streams: any size works.
	Stdin io.Reader

	// Stdout and Stderr receive the command's output as it arrives. Nil
	// discards it. If both are the same writer, at most one goroutine at
	// a time writes to it.
	Stdout io.Writer
	Stderr io.Writer

	// GracePeriod is the time between SIGTERM and SIGKILL when the
	// context passed to Start is done. Zero means 5s.
	GracePeriod time.Duration

	// WaitDelay bounds how long Wait waits for the output streams to
	// close after the command exited (a background child may hold them
	// open). When it passes, the session is closed and Wait returns
	// [ErrWaitDelay] if the command otherwise succeeded. Zero means wait
	// for the streams to close.
	WaitDelay time.Duration

	r        runner
	ctx      context.Context
	started  bool
	finished bool
	p        proc
	pgid     chan int
	stopped  chan struct{}
	stopDone chan bool
	stderrTl *capture
	errDemux *demux // strips the pid marker from stderr
	gate     *stdinGate
	mu       sync.Mutex
	outMu    sync.Mutex
}

// String returns the command, quoted, for humans. It is meant for
// debugging and logs, not as input to a shell.
func (c *Cmd) String() string { return shquote.Join(c.Args) }

func newCmd(r runner, args []string) *Cmd { return &Cmd{Args: args, r: r} }

var (
	errStarted    = errors.New("executor: Cmd already started")
	errNotStarted = errors.New("executor: Cmd not started")
	errNoRunner   = errors.New("executor: Cmd not made by Client.Command or Local.Command")
)

// Start starts the command and returns without waiting for it. When ctx
// is done before the command ends, its remote process group is sent
// SIGTERM and, after GracePeriod, SIGKILL, and Wait reports ctx's error.
// Errors starting it are [*TransportError] or validation errors.
func (c *Cmd) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.r == nil {
		return errNoRunner
	}
	if c.started {
		return errStarted
	}
	c.started = true
	sp := &spec{Step: Step{Args: c.Args, Env: c.Env, Dir: c.Dir, User: c.User}, ReadsStdin: c.Stdin != nil}
	if c.User != "" {
		sp.SudoPwd = c.r.sudoPassword()
	}
	if err := sp.check(); err != nil {
		return &Error{Host: c.r.host(), Cmd: c.String(), Err: err}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	c.ctx = ctx
	nonce := newNonce()
	c.pgid = make(chan int, 1)
	c.stderrTl = newCapture(4 << 10)
	stdout := c.Stdout
	stderr := c.Stderr
	if stdout != nil && stdout == stderr {
		stdout = &lockedWriter{w: stdout, mu: &c.outMu}
		stderr = stdout
	}
	var errw io.Writer = c.stderrTl
	if stderr != nil {
		errw = io.MultiWriter(stderr, c.stderrTl)
	}
	var stdin io.Reader
	if c.Stdin != nil {
		c.gate = newStdinGate(c.Stdin)
		stdin = c.gate
	}
	gotPid := false
	errDemux := newDemux(nonce, func(b []byte) { errw.Write(b) }, func(m string) {
		if mk, err := parseMarker(m); err == nil && mk.kind == markPID && !gotPid {
			gotPid = true
			c.gate.release(true)
			c.pgid <- mk.n
		}
	})
	c.errDemux = errDemux
	p, err := c.r.start(ctx, cmdScript(sp, nonce, c.GracePeriod), stdin, stdout, errDemux, false)
	if err != nil {
		c.gate.release(false)
		return err
	}
	c.p = p
	c.stopped = make(chan struct{})
	c.stopDone = make(chan bool, 1)
	go c.stopOnCancel(ctx, nonce)
	go c.abortAfterStop(ctx, p)
	return nil
}

// stopOnCancel stops the command's processes when ctx ends before the
// command did, and then sends true on c.stopDone (false when the command
// ended first).
func (c *Cmd) stopOnCancel(ctx context.Context, nonce string) {
	select {
	case <-ctx.Done():
	case <-c.stopped:
		c.stopDone <- false
		return
	}
	var pgid int
	select {
	case pgid = <-c.pgid:
	case <-c.stopped:
		c.stopDone <- false
		return
	case <-time.After(10 * time.Second):
	}
	stop(c.r, stopTarget{pgid: pgid, token: runToken(nonce)}, c.GracePeriod, c.User != "", c.stopped)
	c.stopDone <- true
}

// abortAfterStop closes p's session if the process outlives its stop,
// once ctx ended.
func (c *Cmd) abortAfterStop(ctx context.Context, p proc) {
	select {
	case <-ctx.Done():
	case <-c.stopped:
		return
	}
	select {
	case <-c.stopped:
	case <-time.After(c.grace() + 10*time.Second):
		p.abort()
	}
}

func (c *Cmd) grace() time.Duration {
	if c.GracePeriod <= 0 {
		return defaultGrace
	}
	return c.GracePeriod
}

// Wait waits for the command to exit and its output to be copied. It
// returns nil when the command exits with status 0; an [*ExitError] when
// it ran and failed (a non-zero status or a signal); a
// [*TransportError] when the connection failed; ctx's error when the
// context passed to Start ended it.
func (c *Cmd) Wait() error {
	c.mu.Lock()
	if !c.started || c.p == nil {
		c.mu.Unlock()
		return errNotStarted
	}
	if c.finished {
		c.mu.Unlock()
		return errors.New("executor: Wait was already called")
	}
	c.finished = true
	c.mu.Unlock()
	st, err := c.p.wait(c.WaitDelay)
	c.gate.release(false)
	c.errDemux.Flush() // stderr may end like the start of a marker
	close(c.stopped)
	if <-c.stopDone {
		// We stopped it because the context ended.
		return c.ctx.Err()
	}
	if err != nil && !errors.Is(err, ErrWaitDelay) {
		return err
	}
	if st.code != 0 || st.signal != "" {
		return &ExitError{
			Host:   c.r.host(),
			Cmd:    c.String(),
			Code:   st.code,
			Signal: st.signal,
			Stderr: c.stderrTl.Bytes(),
		}
	}
	return err
}

// Run starts the command and waits for it. See [Cmd.Start] and
// [Cmd.Wait].
func (c *Cmd) Run(ctx context.Context) error {
	if err := c.Start(ctx); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the command and returns its standard output. Stdout must
// be nil. When the command fails, the returned [*ExitError] holds the
// tail of its standard error.
func (c *Cmd) Output(ctx context.Context) ([]byte, error) {
	if c.Stdout != nil {
		return nil, errors.New("executor: Stdout already set")
	}
	var out bytes.Buffer
	c.Stdout = &out
	err := c.Run(ctx)
	return out.Bytes(), err
}

// CombinedOutput runs the command and returns its standard output and
// standard error together, in the order they arrived.
func (c *Cmd) CombinedOutput(ctx context.Context) ([]byte, error) {
	if c.Stdout != nil || c.Stderr != nil {
		return nil, errors.New("executor: Stdout or Stderr already set")
	}
	var out bytes.Buffer
	c.Stdout = &out
	c.Stderr = &out
	err := c.Run(ctx)
	return out.Bytes(), err
}

// Error reports a command or step that did not run to its end for a
// reason other than its own exit status or the connection: it is invalid
// (a NUL byte in an argument, a bad environment name, ...), and nothing
// ran; or the host's shell stopped before the step could start (for
// example, it could not read its script), which the message says.
type Error struct {
	Host, Step, Cmd string
	Err             error
}

// Error describes the failure; see [Error] for its fields.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("executor: ")
	if e.Host != "" {
		b.WriteString(e.Host + ": ")
	}
	if e.Step != "" {
		b.WriteString("step " + strconvQuote(e.Step) + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func strconvQuote(s string) string { return strconv.Quote(s) }
