package destination

import (
	"errors"
	"fmt"
	"github.com/ferryhq/ferry/internal/lastline"
	"strings"
	"time"

	"github.com/ferryhq/ferry/executor"
)

// Outcome is how a deploy or rollback ended.
type Outcome string

// The outcomes. They carry the type's name as a prefix, as the
// [Status] constants do, so that the two sets read apart.
const (
	// OutcomeSucceeded: the new release is live and verified.
	OutcomeSucceeded Outcome = "succeeded"
	// OutcomeFailed: the deploy failed before anything live changed (a
	// check, the lock or an upload failed); the files of the live
	// release, if any, were put back.
	OutcomeFailed Outcome = "failed"
	// OutcomeRolledBack: the new release failed and the previous one is
	// live again.
	OutcomeRolledBack Outcome = "rolled-back"
	// OutcomeRemoved: the first release of an app failed and, there
	// being no previous release to go back to, what it started was
	// removed: nothing of the app runs.
	OutcomeRemoved Outcome = "removed"
	// OutcomeRollbackFailed: the new release failed and so did the
	// rollback (or the removal of a failed first release): the app may
	// be down or half updated.
	OutcomeRollbackFailed Outcome = "rollback-failed"
	// OutcomeUnknown: the deploy failed and no rollback ran (see
	// [Options.NoRollback]): the app may be half updated.
	OutcomeUnknown Outcome = "unknown"
)

// Status is how one step ended.
type Status string

// The statuses of a step.
const (
	StatusOK      Status = "ok"              // it ran and succeeded
	StatusFailed  Status = "failed"          // it ran and failed
	StatusIgnored Status = "failed, ignored" // it failed and was allowed to
	StatusSkipped Status = "skipped"         // it did not run
)

// Report records one deploy or rollback: every step with its timing and
// outcome, and how it ended.
type Report struct {
	// Host is the executor's host.
	Host string
	// App, Target and Version are the plan's.
	App, Target, Version string
	// Action is "deploy", "rollback" or "remove".
	Action string
	// Release is the number this deploy has in the app's history, and
	// Previous the release that was live before it (0 if none).
	Release, Previous int
	// Start and Duration time the whole deploy, lock to unlock.
	Start    time.Time
	Duration time.Duration
	// Steps lists every step in the order it ran, including the lock,
	// uploads and history steps.
	Steps []StepReport
	// Outcome is how it ended.
	Outcome Outcome
	// Err is the error Deploy returned, nil on success.
	Err error
	// Diagnostics is what the target gathered on the host to explain a
	// failed apply or verify, secrets redacted (also in the [*Error]);
	// empty when none was gathered.
	Diagnostics string
}

// StepReport records one step of a deploy.
type StepReport struct {
	// Phase is the pipeline: "lock", "check", "upload", "apply",
	// "verify", "rollback", "restore", "record" or "unlock".
	Phase string
	// Name is the step's name (for uploads, the file's path).
	Name     string
	Start    time.Time
	Duration time.Duration
	Status   Status
	// Err is the step's error, nil when it succeeded.
	Err error
}

// String prints the report as a table, one step a line.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s to %s on %s: %s in %s", r.Action, r.App, r.Target, r.Host, r.Outcome, r.Duration.Round(time.Millisecond))
	if r.Release > 0 {
		fmt.Fprintf(&b, " (release %d", r.Release)
		if r.Previous > 0 {
			fmt.Fprintf(&b, ", previous %d", r.Previous)
		}
		b.WriteString(")")
	}
	b.WriteString("\n")
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "  %-8s %-40s %-15s %8s\n", s.Phase, trim(s.Name, 40), s.Status, s.Duration.Round(time.Millisecond))
	}
	if r.Err != nil {
		fmt.Fprintf(&b, "  error: %v\n", r.Err)
	}
	return b.String()
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// ErrLocked is wrapped by a [*LockedError].
var ErrLocked = errors.New("destination: deploy lock held")

// LockedError reports that another deploy of the app holds its lock on
// the host. It wraps [ErrLocked].
type LockedError struct {
	Host, App string
	// Lock is the lock directory on the host.
	Lock string
	// Owner describes the holder ("id=… host=… pid=… user=… time=…"), or
	// is empty when the holder wrote no owner file.
	Owner string
	// Since is when the lock was taken, by the host's clock.
	Since time.Time
}

// Error describes the failure; see [LockedError] for its fields.
func (e *LockedError) Error() string {
	return fmt.Sprintf("destination: %s: step \"lock\": %s", e.Host, e.reason())
}

// reason says who holds the lock, without the host.
func (e *LockedError) reason() string {
	owner := e.Owner
	if owner == "" {
		owner = "an unknown owner"
	}
	return fmt.Sprintf("app %q is being deployed by %s since %s (lock %s; wait with Options.LockWait, or remove it once that deploy is gone)",
		e.App, owner, e.Since.UTC().Format(time.RFC3339), e.Lock)
}

// Unwrap returns [ErrLocked].
func (e *LockedError) Unwrap() error { return ErrLocked }

// Error reports a failed deploy, rollback or removal: where it failed,
// what state it left and, when the app did not come up, what explains
// it. It wraps the step's error: an [*executor.ExitError] when a command
// failed, an [*executor.TransportError] when the connection did, a
// [*LockedError] when the lock was held.
type Error struct {
	Host, App string
	// Action is "deploy", "rollback" or "remove"; empty reads as
	// "deploy".
	Action string
	// Phase and Step name where it failed.
	Phase, Step string
	// Err is the step's error.
	Err error
	// Outcome says what state the app was left in.
	Outcome Outcome
	// RollbackErr is the rollback's error, when it failed too.
	RollbackErr error
	// Diagnostics is what the target gathered on the host to explain a
	// failed apply or verify (container logs, health checks, task
	// errors, Kubernetes events), secrets redacted; empty when none was
	// gathered. See [Plan.Diagnose].
	Diagnostics string
}

// Error describes the failure on its first line, and adds the
// diagnostics, indented, on the following lines.
func (e *Error) Error() string {
	var b strings.Builder
	action := e.Action
	if action == "" {
		action = "deploy"
	}
	fmt.Fprintf(&b, "destination: %s: %s of %q failed at %s step %q: %s", e.Host, action, e.App, e.Phase, e.Step, describe(e.Err))
	switch e.Outcome {
	case OutcomeFailed:
		b.WriteString("; nothing live was changed")
	case OutcomeRolledBack:
		b.WriteString("; rolled back to the previous release")
	case OutcomeRemoved:
		b.WriteString("; there was no previous release: the new one was removed")
	case OutcomeRollbackFailed:
		fmt.Fprintf(&b, "; the rollback failed too (%s): the app may be down", describe(e.RollbackErr))
	case OutcomeUnknown:
		b.WriteString("; not rolled back: the app may be half updated")
	}
	if d := strings.TrimRight(e.Diagnostics, "\n"); d != "" {
		b.WriteString("\ndiagnostics:")
		for _, line := range strings.Split(d, "\n") {
			b.WriteString("\n  ")
			b.WriteString(line)
		}
	}
	return b.String()
}

// Unwrap returns the step's error.
func (e *Error) Unwrap() error { return e.Err }

// describe says what went wrong in err from its fields, leaving out the
// host and step that [Error] already names.
func describe(err error) string {
	var (
		xe *executor.ExitError
		te *executor.TransportError
		le *LockedError
		be *BuildError
	)
	switch {
	case err == nil:
		return "<nil>"
	case errors.As(err, &be):
		return be.describe()
	case errors.As(err, &xe):
		var b strings.Builder
		switch {
		case xe.Timeout:
			fmt.Fprintf(&b, "timed out, stopped with SIG%s", xe.Signal)
		case xe.Signal != "":
			fmt.Fprintf(&b, "killed by signal %s", xe.Signal)
		default:
			fmt.Fprintf(&b, "exit status %d", xe.Code)
		}
		if last := lastline.Of(xe.Stderr, 300); last != "" {
			fmt.Fprintf(&b, ": %s", last)
		}
		return b.String()
	case errors.As(err, &te):
		return fmt.Sprintf("%s: %v", te.Op, te.Err)
	case errors.As(err, &le):
		return le.reason()
	}
	return err.Error()
}
