package executor

import (
	"errors"
	"fmt"
	"github.com/ferryhq/ferry/internal/lastline"
	"strings"
)

// ErrNoExitStatus reports a remote command that ended without an exit
// status or signal, typically because the connection was lost.
var ErrNoExitStatus = errors.New("executor: command ended without exit status")

// ErrWaitDelay is returned by [Cmd.Wait] when the command exited but its
// output streams stayed open longer than [Cmd.WaitDelay].
var ErrWaitDelay = errors.New("executor: output streams not closed after WaitDelay")

// ErrTimeout is matched by the error of a step whose Timeout passed:
// errors.Is(err, ErrTimeout). The three signals of a timeout say the same
// thing at three levels: ErrTimeout for an error anywhere up the chain,
// [ExitError.Timeout] on the step's own error, [StepResult.TimedOut] on
// the result of a step whose error was ignored (IgnoreErrors).
var ErrTimeout = errors.New("executor: step timed out")

// ExitError reports a command that ran and did not succeed: it exited
// with a non-zero status or was killed by a signal.
type ExitError struct {
	// Host and Step say where; Step is empty for a lone [Cmd].
	Host, Step string
	// Cmd is the command, for humans (not for a shell), with secrets
	// redacted.
	Cmd string
	// Code is the exit status as a shell reports it: 128+N when killed
	// by signal N.
	Code int
	// Signal is the signal's name without "SIG" ("KILL"), or empty.
	Signal string
	// Stderr holds the tail of the command's standard error, redacted.
	Stderr []byte
	// Timeout says the step was stopped because its Timeout passed;
	// errors.Is(err, ErrTimeout) reports the same.
	Timeout bool
}

// Is makes errors.Is(err, ErrTimeout) true for a timed-out step.
func (e *ExitError) Is(target error) bool { return target == ErrTimeout && e.Timeout }

// Error describes the failure; see [ExitError] for its fields.
func (e *ExitError) Error() string {
	var b strings.Builder
	b.WriteString("executor: ")
	if e.Host != "" {
		b.WriteString(e.Host)
		b.WriteString(": ")
	}
	if e.Step != "" {
		fmt.Fprintf(&b, "step %q: ", e.Step)
	}
	if e.Timeout {
		fmt.Fprintf(&b, "timed out, stopped with SIG%s", e.Signal)
	} else if e.Signal != "" {
		fmt.Fprintf(&b, "killed by signal %s", e.Signal)
	} else {
		fmt.Fprintf(&b, "exit status %d", e.Code)
	}
	if last := lastline.Of(e.Stderr, 200); last != "" {
		fmt.Fprintf(&b, ": %s", last)
	}
	return b.String()
}

// ExitCode returns the status a shell would report: the exit status, or
// 128+N when killed by signal N. It returns Code; it exists so that
// ExitError answers the same call as [os/exec.ExitError].
func (e *ExitError) ExitCode() int { return e.Code }

// TransportError reports a failure of the connection rather than of a
// command: dialling, the handshake, authentication, host key
// verification, opening a session, or a connection lost while a command
// ran. Started tells the last case apart: the command may have run.
type TransportError struct {
	Host string
	// Op is what failed: "dial", "handshake", "session", "connection".
	Op string
	// Started says whether the command had started when the failure
	// happened. Only failures with Started false are retried.
	Started bool
	Err     error
}

// Error describes the failure; see [TransportError] for its fields.
func (e *TransportError) Error() string {
	return fmt.Sprintf("executor: %s: %s: %v", e.Host, e.Op, e.Err)
}

// Unwrap returns the underlying error.
func (e *TransportError) Unwrap() error { return e.Err }

// IsTransport reports whether err is, or wraps, a [*TransportError]. It
// is errors.As with a throwaway target, for the common question "is this
// the connection's fault?"; use errors.As to read the error's fields.
func IsTransport(err error) bool {
	var te *TransportError
	return errors.As(err, &te)
}

var signalNumbers = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7,
	"FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13,
	"ALRM": 14, "TERM": 15,
}

func signalNumber(name string) (int, bool) {
	n, ok := signalNumbers[name]
	return n, ok
}

func signalName(n int) string {
	for name, v := range signalNumbers {
		if v == n {
			return name
		}
	}
	return ""
}
