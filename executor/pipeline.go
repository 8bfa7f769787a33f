package executor

import (
	"context"
	"io"
	"io/fs"
	"time"
)

// Executor runs commands and pipelines on one host. [*Client] runs them
// over SSH; [*Local] runs them on this machine. Both behave the same.
type Executor interface {
	// Command returns a [Cmd] that runs args on the host.
	Command(args ...string) *Cmd
	// Run runs p and returns its result. See [Pipeline].
	Run(ctx context.Context, p *Pipeline) (*Result, error)
	// Host names the host, for events, logs and errors.
	Host() string
	// Close releases the executor's resources.
	Close() error
	// WriteFile writes data to the file path on the host atomically (a
	// temporary file in the same directory, then a rename) with
	// permissions perm.
	WriteFile(ctx context.Context, path string, data []byte, perm fs.FileMode) error
}

// Pipeline is an ordered list of steps run on one host, like Coolify's
// remote_process. It stops at the first failing step unless that step
// sets IgnoreErrors.
//
// Consecutive steps are sent to the host together, as one script on one
// session, so that a pipeline of many small steps costs about one and a
// half round trips on a warm connection instead of several per step. A step with Stdin ends such a batch.
type Pipeline struct {
	// Name names the pipeline in events and logs.
	Name string
	// Steps run in order.
	Steps []Step
	// Env ("KEY=value") and Dir apply to every step; a step's own Env is
	// added after them and its Dir replaces Dir.
	Env []string
	Dir string
	// Secrets are values redacted from every event, log record, error
	// and result, for all steps.
	Secrets []string
	// Observer receives the pipeline's events as they happen. Nil means
	// none. It is called from one goroutine at a time.
	Observer Observer
	// GracePeriod is the time between SIGTERM and SIGKILL when a step
	// times out or the context ends. Zero means 5s.
	GracePeriod time.Duration
	// OutputLimit caps the bytes of stdout and of stderr kept in each
	// [StepResult]. Zero means 64 KiB. Output beyond it is still
	// streamed; what is kept is the head and the tail, marked truncated.
	OutputLimit int
}

// Step is one command of a [Pipeline].
type Step struct {
	// Name names the step in events, results and errors. Empty means
	// "step N" (from 1).
	Name string
	// Args is the command as argv: Args[0] is the program, looked up in
	// the remote PATH. Each element arrives at the program unchanged.
	// Exactly one of Args and Script must be set.
	Args []string
	// Script is shell text, run by /bin/sh with -e. It travels on the
	// session's standard input, never on a command line, so it may be
	// of any size.
	Script string
	// Shell runs Script. Empty means /bin/sh.
	Shell string
	// Env lists "KEY=value" pairs added to the environment.
	Env []string
	// Dir is the working directory. Empty means the pipeline's Dir, or
	// the login user's home directory.
	Dir string
	// User runs the step as that user through sudo. Empty means the login
	// user. See [Config.SudoPassword].
	User string
	// Stdin is the step's standard input. Nil means empty input.
	Stdin io.Reader
	// Timeout bounds the step. When it passes, the step's processes are
	// sent SIGTERM and, after a grace period, SIGKILL. Zero means none.
	Timeout time.Duration
	// Hidden keeps the step's output out of events (Output events, and
	// the Result of its StepEnd event), logs and errors (its
	// [ExitError.Stderr] is empty); it is still captured in the
	// StepResult that Run returns.
	Hidden bool
	// IgnoreErrors lets the pipeline go on when the step fails.
	IgnoreErrors bool
	// Save keeps the step's stdout, with one trailing newline removed,
	// under this name in [Result.Saved].
	Save string
	// Secrets are further values to redact (see [Pipeline.Secrets]).
	Secrets []string
}

// Result records a pipeline run on one host.
type Result struct {
	Host     string
	Pipeline string
	Start    time.Time
	Duration time.Duration
	// Steps holds one entry per step of the pipeline, in order,
	// including steps that did not run (Skipped).
	Steps []StepResult
	// Saved holds the stdout of steps with Save set.
	Saved map[string]string
}

// StepResult records one step.
type StepResult struct {
	Name string
	// ExitCode is the exit status as a shell reports it: 128+N when the
	// step was killed by signal N. It is -1 when the step did not run or
	// its end is unknown (lost connection, cancelled).
	ExitCode int
	// Signal is the name of the signal that killed the step ("KILL",
	// "TERM"), or empty. Steps run in a batch learn of signals from the
	// shell's status, so a step that itself exits with 128+N is reported
	// as killed by signal N, as shells do.
	Signal   string
	Start    time.Time
	Duration time.Duration
	// Stdout and Stderr are the captured output, redacted and capped at
	// the pipeline's OutputLimit; Truncated says whether bytes were left
	// out of either.
	Stdout, Stderr []byte
	Truncated      bool
	// TimedOut says the step's Timeout passed and it was stopped.
	TimedOut bool
	// Skipped says the step did not run because an earlier one failed or
	// the context was cancelled.
	Skipped bool
	// Err is the step's failure, nil on success. It is an [*ExitError]
	// when the command ran and failed.
	Err error
}

// OK reports whether the step ran and succeeded.
func (r *StepResult) OK() bool { return !r.Skipped && r.Err == nil }
