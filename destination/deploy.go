package destination

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ferryhq/ferry/executor"
)

// Options tunes [Deploy], [Rollback] and [Remove]. The zero value (or
// nil) is ready to use.
type Options struct {
	// Observer receives every step's events as they happen (start,
	// output lines, end), uploads included, so that a CI log can follow
	// the deploy. Nil means none. It is called from one goroutine at a
	// time.
	Observer executor.Observer
	// LockWait is how long to wait for another deploy of the app to
	// release its lock. Zero means do not wait: fail at once with a
	// [*LockedError].
	LockWait time.Duration
	// StaleLock is the age after which a lock is considered abandoned
	// and broken. Zero means 1 hour; a negative value never breaks a
	// lock for its age. A lock whose owner ran on this machine and has
	// exited, or was an earlier deploy of this process, is broken
	// whatever its age.
	StaleLock time.Duration
	// Keep is how many releases' files are kept on the host for
	// [Rollback]. Zero means 10.
	Keep int
	// RemoveVolumes makes [Remove] delete the app's volumes (Docker,
	// Swarm) or PersistentVolumeClaims (Kubernetes) too. False keeps
	// them, and their data, for a later deploy.
	RemoveVolumes bool
	// NoRollback leaves a failed release in place instead of rolling
	// back (to investigate it). The report's outcome is then
	// [OutcomeUnknown].
	NoRollback bool
	// Registries are credentials of private registries, given in Go
	// code; they win over the spec's for the same registry. Nil means
	// only the spec's. See [Credentials].
	Registries []Credentials
}

func (o *Options) staleLock() time.Duration {
	if o.StaleLock == 0 {
		return time.Hour
	}
	return o.StaleLock
}

func (o *Options) keep() int {
	if o.Keep <= 0 {
		return 10
	}
	return o.Keep
}

// Deploy runs plan on the host behind ex: lock, check, upload, apply,
// verify, and on failure diagnose and roll back; it records the outcome
// in the app's history on the host and releases the lock. See the
// package documentation for the order of things.
//
// The returned [*Report] is never nil, also on error; its Outcome says
// what state the app is in. The error is a [*Error] naming the host,
// the phase and the step that failed and wrapping the step's error.
//
// Cancelling ctx stops the running step; a rollback and the release of
// the lock still run, bounded by their own deadlines.
func Deploy(ctx context.Context, ex executor.Executor, plan *Plan, opts *Options) (*Report, error) {
	return newDeployment(ex, plan, opts, "deploy").run(ctx, nil)
}

// Rollback deploys again the files of an earlier release, kept on the
// host: release number release, or with release 0 the last successful
// release before the live one with other files. It restores them,
// applies and verifies them with plan's pipelines (rolling forward to
// the live release again if that fails) and records a new release in
// the history. plan gives the app's directory and the target's
// pipelines; its own files are not uploaded.
//
// It fails with a [*Error] wrapping [ErrNoPrevious] when release is 0
// and the history holds no such release, wrapping [ErrNoRelease] when
// release N is not in the history or did not succeed, and at the
// "restore" phase when release N's files are no longer kept (see
// [Options.Keep]).
func Rollback(ctx context.Context, ex executor.Executor, plan *Plan, release int, opts *Options) (*Report, error) {
	pick := previousOf
	if release > 0 {
		pick = releaseNumber(release)
	}
	return newDeployment(ex, plan, opts, "rollback").run(ctx, pick)
}

// deployment is one run of a plan on a host: a deploy, a rollback or a
// removal.
type deployment struct {
	ex    executor.Executor
	plan  *Plan
	opts  *Options
	rep   *Report
	owner owner
	// failed is the error returned, once there is one.
	failed *Error
	// lockDeadline ends the wait for a held lock; zero until the lock
	// was first found held.
	lockDeadline time.Time
	// secrets are values found while deploying (registry passwords,
	// build secrets), redacted from the build's pipelines.
	secrets []string
}

func newDeployment(ex executor.Executor, plan *Plan, opts *Options, action string) *deployment {
	if opts == nil {
		opts = &Options{}
	}
	return &deployment{ex: ex, plan: plan, opts: opts, owner: newOwner(), rep: &Report{
		Host: ex.Host(), App: plan.App, Target: plan.Target, Version: plan.Version, Action: action,
	}}
}

// run deploys the plan's files, or with pick, the files of the release
// pick chooses from the history.
func (d *deployment) run(ctx context.Context, pick func([]Record) (*Record, error)) (*Report, error) {
	if pick == nil && d.fastPath() {
		return d.deployFast(ctx)
	}
	return d.locked(ctx, func(hist []Record) (*Report, error) { return d.deploy(ctx, hist, pick) })
}

// locked times the report and runs body under the lock, with the
// history the lock step read and the release numbered.
func (d *deployment) locked(ctx context.Context, body func(hist []Record) (*Report, error)) (*Report, error) {
	rep := d.rep
	rep.Start = time.Now()
	defer func() { rep.Duration = time.Since(rep.Start) }()
	hist, err := d.lock(ctx)
	if err != nil {
		return d.fail("lock", "take lock", err, OutcomeFailed)
	}
	defer d.unlock(ctx)
	d.number(hist)
	return body(hist)
}

// deploy is run's work under the lock.
func (d *deployment) deploy(ctx context.Context, hist []Record, pick func([]Record) (*Record, error)) (*Report, error) {
	rep := d.rep
	var err error
	var from *Record
	if pick != nil {
		if from, err = pick(hist); err != nil {
			return d.fail("history", "pick release", err, OutcomeFailed)
		}
		rep.Version = from.Version
	}

	if _, step, err := d.pipeline(ctx, d.plan.Check); err != nil {
		d.record(ctx, from, OutcomeFailed, err)
		return d.fail("check", step, err, OutcomeFailed)
	}

	// Images are built and pushed before anything live changes.
	if from == nil {
		if step, err := d.build(ctx); err != nil {
			d.record(ctx, from, OutcomeFailed, err)
			return d.fail("build", step, err, OutcomeFailed)
		}
	}

	// From here on the files on the host change: a failure puts the live
	// release's files back.
	if phase, step, err := d.place(ctx, from); err != nil {
		d.restore(ctx)
		d.record(ctx, from, OutcomeFailed, err)
		return d.fail(phase, step, err, OutcomeFailed)
	}

	for _, p := range []*executor.Pipeline{d.plan.Apply, d.plan.Verify} {
		if _, step, err := d.pipeline(ctx, p); err != nil {
			return d.failLive(ctx, from, p.Name, step, err)
		}
	}

	if err := d.keep(ctx, from); err != nil {
		return d.fail("record", "keep release", err, OutcomeSucceeded)
	}
	rep.Outcome = OutcomeSucceeded
	return rep, nil
}

// number sets the report's release numbers from the history.
func (d *deployment) number(hist []Record) {
	if cur := live(hist); cur != nil {
		d.rep.Previous = cur.Release
	}
	for _, h := range hist {
		d.rep.Release = max(d.rep.Release, h.Release)
	}
	d.rep.Release++
}

// place puts the release's files on the host: the plan's, uploaded, or
// those of release from, restored from the host's copy.
func (d *deployment) place(ctx context.Context, from *Record) (phase, step string, err error) {
	if from == nil {
		step, err := d.upload(ctx)
		return "upload", step, err
	}
	p := statePipeline("restore", d.plan.Dir, executor.Step{Name: fmt.Sprintf("restore files of release %d", from.Release), Script: releaseScript,
		Env: []string{"FERRY_RELEASE=" + strconv.Itoa(from.Release)}})
	p.Dir = d.plan.Dir
	_, step, err = d.pipeline(ctx, p)
	return "restore", step, err
}

// failLive handles a failed apply or verify: it gathers the target's
// diagnostics, rolls back (or, for a first release, removes it) unless
// told not to, and records what happened.
func (d *deployment) failLive(ctx context.Context, from *Record, phase, step string, err error) (*Report, error) {
	diag := d.diagnose(ctx)
	outcome := OutcomeUnknown
	var rbErr error
	if !d.opts.NoRollback && d.plan.Rollback != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*d.plan.Timeout+2*time.Minute)
		_, _, rbErr = d.pipeline(rctx, d.plan.Rollback)
		cancel()
		switch {
		case rbErr != nil:
			outcome = OutcomeRollbackFailed
		case d.rep.Previous == 0:
			outcome = OutcomeRemoved
		default:
			outcome = OutcomeRolledBack
		}
	}
	d.record(ctx, from, outcome, err)
	d.fail(phase, step, err, outcome)
	d.failed.RollbackErr = rbErr
	d.failed.Diagnostics = diag
	d.rep.Diagnostics = diag
	return d.rep, d.failed
}

func (d *deployment) fail(phase, step string, err error, outcome Outcome) (*Report, error) {
	d.rep.Outcome = outcome
	e := &Error{Host: d.ex.Host(), App: d.plan.App, Action: d.rep.Action, Phase: phase, Step: step, Err: err, Outcome: outcome}
	d.failed = e
	d.rep.Err = e
	return d.rep, e
}

// exec runs p with the options' observer and returns the executor's
// result. A nil or empty p runs nothing.
func (d *deployment) exec(ctx context.Context, p *executor.Pipeline) (*executor.Result, error) {
	if p == nil || len(p.Steps) == 0 {
		return &executor.Result{Saved: map[string]string{}}, nil
	}
	cp := *p
	cp.Observer = d.opts.Observer
	return d.ex.Run(ctx, &cp)
}

// pipeline runs p, adds its steps to the report and returns the result
// with the failing step's name and the error.
func (d *deployment) pipeline(ctx context.Context, p *executor.Pipeline) (*executor.Result, string, error) {
	res, err := d.exec(ctx, p)
	return res, d.steps(p, res, err), err
}

// steps adds a pipeline's result to the report and returns the name of
// its failing step ("" when err is nil).
func (d *deployment) steps(p *executor.Pipeline, res *executor.Result, err error) string {
	failed := ""
	if res != nil {
		for i, s := range res.Steps {
			st := StepReport{Phase: p.Name, Name: s.Name, Start: s.Start, Duration: s.Duration, Err: s.Err, Status: StatusOK}
			switch {
			case s.Skipped:
				st.Status = StatusSkipped
			case s.Err != nil && i < len(p.Steps) && p.Steps[i].IgnoreErrors:
				st.Status = StatusIgnored
			case s.Err != nil:
				st.Status = StatusFailed
				if failed == "" {
					failed = s.Name
				}
			}
			d.rep.Steps = append(d.rep.Steps, st)
		}
	}
	if err != nil && failed == "" {
		failed = p.Name
		if res == nil {
			d.rep.Steps = append(d.rep.Steps, StepReport{Phase: p.Name, Name: p.Name, Start: time.Now(), Status: StatusFailed, Err: err})
		}
	}
	return failed
}

// upload writes the plan's files, each atomically.
func (d *deployment) upload(ctx context.Context) (string, error) {
	for i, f := range d.plan.Files {
		start := time.Now()
		d.event(executor.Event{Kind: executor.StepStart, Time: start, Step: f.Path, Index: i})
		err := d.ex.WriteFile(ctx, f.Path, f.Data, fileMode(f))
		sr := &executor.StepResult{Name: f.Path, Start: start, Duration: time.Since(start), Err: err}
		st := StepReport{Phase: "upload", Name: f.Path, Start: start, Duration: sr.Duration, Status: StatusOK, Err: err}
		if err != nil {
			sr.ExitCode = -1
			st.Status = StatusFailed
		}
		d.event(executor.Event{Kind: executor.StepEnd, Time: time.Now(), Step: f.Path, Index: i, Result: sr})
		d.rep.Steps = append(d.rep.Steps, st)
		if err != nil {
			return f.Path, err
		}
	}
	return "", nil
}

func (d *deployment) event(e executor.Event) {
	if d.opts.Observer == nil {
		return
	}
	e.Host = d.ex.Host()
	e.Pipeline = "upload"
	d.opts.Observer.Event(e)
}

// restore puts the live release's files back after a failed upload.
func (d *deployment) restore(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	d.pipeline(rctx, restorePipeline(d.plan.Dir))
}
