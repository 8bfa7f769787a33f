package destination

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/translate"
)

// Options tunes [Deploy] and [Rollback]. The zero value (or nil) is
// ready to use.
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
	// exited is broken whatever its age.
	StaleLock time.Duration
	// Keep is how many releases' files are kept on the host for
	// [Rollback]. Zero means 10.
	Keep int
	// NoRollback leaves a failed release in place instead of rolling
	// back (to investigate it). The report's outcome is then [Unknown].
	NoRollback bool
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
// verify, and on failure rollback; it records the outcome in the app's
// history on the host and releases the lock. See the package
// documentation for the order of things.
//
// The returned [*Report] is never nil, also on error; its Outcome says
// what state the app is in. The error is a [*Error] naming the host,
// the phase and the step that failed and wrapping the step's error.
//
// Cancelling ctx stops the running step; a rollback and the release of
// the lock still run, bounded by their own deadlines.
func Deploy(ctx context.Context, ex executor.Executor, plan *Plan, opts *Options) (*Report, error) {
	return newRun(ex, plan, opts, "deploy").run(ctx, nil)
}

// Rollback deploys again the release that was live before the current
// one, using the files kept on the host: it restores them, applies and
// verifies them (rolling forward to the current release again if that
// fails) and records a new release in the history. target and app give
// the plan's pipelines; the files come from the host.
//
// It fails with a [*Error] wrapping [ErrNoPrevious] when the history
// holds no earlier successful release whose files are still kept.
func Rollback(ctx context.Context, ex executor.Executor, target Target, app *translate.App, opts *Options) (*Report, error) {
	plan, err := target.Plan(app)
	if err != nil {
		return &Report{Host: ex.Host(), Action: "rollback", Outcome: Failed, Err: err}, err
	}
	return newRun(ex, plan, opts, "rollback").run(ctx, previousOf)
}

// ErrNoPrevious is wrapped by the error of a [Rollback] with no release
// to go back to.
var ErrNoPrevious = errors.New("no earlier successful release to roll back to")

// History returns the app's deploy history on the host, oldest first.
// An app never deployed has an empty history.
func History(ctx context.Context, ex executor.Executor, target Target, app *translate.App) ([]Record, error) {
	plan, err := target.Plan(app)
	if err != nil {
		return nil, err
	}
	res, err := ex.Run(ctx, statePipeline("history", plan.Dir, executor.Step{
		Name: "read history", Script: `if [ -f "$FERRY_DIR/.ferry/history.jsonl" ]; then cat "$FERRY_DIR/.ferry/history.jsonl"; fi` + "\n",
		Save: "history", Hidden: true,
	}))
	if err != nil {
		return nil, err
	}
	return parseHistory(res.Saved["history"])
}

// Record is one entry of an app's history on the host.
type Record struct {
	// Release numbers the deploys of the app from 1.
	Release int `json:"release"`
	// Action is "deploy" or "rollback".
	Action  string `json:"action"`
	App     string `json:"app"`
	Target  string `json:"target"`
	Version string `json:"version"`
	Image   string `json:"image,omitempty"`
	// From is, for a rollback, the release whose files were deployed
	// again.
	From int `json:"from,omitempty"`
	// Previous is the release that was live before this one.
	Previous int       `json:"previous,omitempty"`
	Time     time.Time `json:"time"`
	Seconds  float64   `json:"seconds"`
	Outcome  Outcome   `json:"outcome"`
	// By describes who deployed: user@machine.
	By    string `json:"by"`
	Error string `json:"error,omitempty"`
}

func parseHistory(s string) ([]Record, error) {
	var out []Record
	for i, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return out, fmt.Errorf("destination: history line %d: %v", i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// live returns the release live according to the history, or nil.
func live(hist []Record) *Record {
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Outcome == Succeeded {
			return &hist[i]
		}
	}
	return nil
}

// previousOf returns the release to roll back to: the last successful
// one before the live one, with a different version.
func previousOf(hist []Record) *Record {
	cur := live(hist)
	if cur == nil {
		return nil
	}
	for i := len(hist) - 1; i >= 0; i-- {
		r := &hist[i]
		if r.Outcome == Succeeded && r.Release < cur.Release && r.Version != cur.Version {
			return r
		}
	}
	return nil
}

type run struct {
	ex     executor.Executor
	plan   *Plan
	opts   *Options
	rep    *Report
	owner  string
	by     string
	failed *Error
}

func newRun(ex executor.Executor, plan *Plan, opts *Options, action string) *run {
	if opts == nil {
		opts = &Options{}
	}
	by, owner := ownerInfo()
	return &run{ex: ex, plan: plan, opts: opts, by: by, owner: owner, rep: &Report{
		Host: ex.Host(), App: plan.App, Target: plan.Target, Version: plan.Version, Action: action,
	}}
}

// ownerInfo describes this process for the lock and the history.
func ownerInfo() (by, owner string) {
	host, _ := os.Hostname()
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	var id [6]byte
	rand.Read(id[:])
	by = name + "@" + host
	owner = fmt.Sprintf("id=%s host=%s pid=%d user=%s time=%s", hex.EncodeToString(id[:]), host, os.Getpid(), name, time.Now().UTC().Format(time.RFC3339))
	return by, owner
}

// run deploys the plan's files, or with pick, the files of the release
// pick chooses from the history.
func (r *run) run(ctx context.Context, pick func([]Record) *Record) (*Report, error) {
	rep := r.rep
	rep.Start = time.Now()
	defer func() { rep.Duration = time.Since(rep.Start) }()

	hist, err := r.lock(ctx)
	if err != nil {
		return r.fail("lock", "take lock", err, Failed)
	}
	defer r.unlock(ctx)

	if cur := live(hist); cur != nil {
		rep.Previous = cur.Release
	}
	for _, h := range hist {
		rep.Release = max(rep.Release, h.Release)
	}
	rep.Release++

	var from *Record
	if pick != nil {
		if from = pick(hist); from == nil {
			return r.fail("history", "pick release", ErrNoPrevious, Failed)
		}
		rep.Version = from.Version
	}

	if step, err := r.pipeline(ctx, r.plan.Check); err != nil {
		r.record(ctx, from, Failed, err)
		return r.fail("check", step, err, Failed)
	}

	// From here on the files on the host change: a failure puts the live
	// release's files back.
	if from == nil {
		if name, err := r.upload(ctx); err != nil {
			r.restore(ctx)
			r.record(ctx, from, Failed, err)
			return r.fail("upload", name, err, Failed)
		}
	} else {
		p := statePipeline("restore", r.plan.Dir, executor.Step{Name: fmt.Sprintf("restore files of release %d", from.Release), Script: releaseScript,
			Env: []string{"FERRY_RELEASE=" + strconv.Itoa(from.Release)}})
		p.Dir = r.plan.Dir
		if step, err := r.pipeline(ctx, p); err != nil {
			r.restore(ctx)
			r.record(ctx, from, Failed, err)
			return r.fail("restore", step, err, Failed)
		}
	}

	for _, p := range []*executor.Pipeline{r.plan.Apply, r.plan.Verify} {
		if step, err := r.pipeline(ctx, p); err != nil {
			outcome := Unknown
			var rbErr error
			if !r.opts.NoRollback && r.plan.Rollback != nil {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*r.plan.Timeout+2*time.Minute)
				_, rbErr = r.pipeline(rctx, r.plan.Rollback)
				cancel()
				outcome = RolledBack
				if rbErr != nil {
					outcome = RollbackFailed
				}
			}
			r.record(ctx, from, outcome, err)
			_, ferr := r.fail(p.Name, step, err, outcome)
			r.failed.RollbackErr = rbErr
			return rep, ferr
		}
	}

	if err := r.keep(ctx, from); err != nil {
		return r.fail("record", "keep release", err, Succeeded)
	}
	rep.Outcome = Succeeded
	return rep, nil
}

func (r *run) fail(phase, step string, err error, outcome Outcome) (*Report, error) {
	r.rep.Outcome = outcome
	e := &Error{Host: r.ex.Host(), App: r.plan.App, Phase: phase, Step: step, Err: err, Outcome: outcome}
	r.failed = e
	r.rep.Err = e
	return r.rep, e
}

// pipeline runs p, reports its steps and returns the failing step's name
// with the error.
func (r *run) pipeline(ctx context.Context, p *executor.Pipeline) (string, error) {
	if p == nil || len(p.Steps) == 0 {
		return "", nil
	}
	cp := *p
	cp.Observer = r.opts.Observer
	res, err := r.ex.Run(ctx, &cp)
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
			r.rep.Steps = append(r.rep.Steps, st)
		}
	}
	if err != nil && failed == "" {
		failed = p.Name
		if res == nil {
			r.rep.Steps = append(r.rep.Steps, StepReport{Phase: p.Name, Name: p.Name, Start: time.Now(), Status: StatusFailed, Err: err})
		}
	}
	return failed, err
}

// upload writes the plan's files, each atomically.
func (r *run) upload(ctx context.Context) (string, error) {
	for i, f := range r.plan.Files {
		start := time.Now()
		r.event(executor.Event{Kind: executor.StepStart, Time: start, Step: f.Path, Index: i})
		err := r.ex.WriteFile(ctx, f.Path, f.Data, fileMode(f))
		sr := &executor.StepResult{Name: f.Path, Start: start, Duration: time.Since(start), Err: err}
		st := StepReport{Phase: "upload", Name: f.Path, Start: start, Duration: sr.Duration, Status: StatusOK, Err: err}
		if err != nil {
			sr.ExitCode = -1
			st.Status = StatusFailed
		}
		r.event(executor.Event{Kind: executor.StepEnd, Time: time.Now(), Step: f.Path, Index: i, Result: sr})
		r.rep.Steps = append(r.rep.Steps, st)
		if err != nil {
			return f.Path, err
		}
	}
	return "", nil
}

func (r *run) event(e executor.Event) {
	if r.opts.Observer == nil {
		return
	}
	e.Host = r.ex.Host()
	e.Pipeline = "upload"
	r.opts.Observer.Event(e)
}

// restore puts the live release's files back after a failed upload.
func (r *run) restore(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	r.pipeline(rctx, restorePipeline(r.plan.Dir))
}

// lock takes the app's lock, waiting and breaking stale locks as the
// options say, and returns the history read under it.
func (r *run) lock(ctx context.Context) ([]Record, error) {
	lockDir := path.Join(r.plan.Dir, stateDir, "lock")
	deadline := time.Now().Add(r.opts.LockWait)
	for {
		p := &executor.Pipeline{Name: "lock", Env: []string{"FERRY_DIR=" + r.plan.Dir}, Steps: []executor.Step{
			{Name: "take lock", Script: lockScript, Env: []string{"FERRY_OWNER=" + r.owner}, Save: "lock"},
			{Name: "read history", Script: historyScript, Save: "history", Hidden: true},
		}}
		p.Observer = r.opts.Observer
		res, err := r.ex.Run(ctx, p)
		if err != nil {
			r.pipelineSteps(p, res)
			return nil, err
		}
		out := res.Saved["lock"]
		if strings.HasPrefix(out, "acquired") {
			r.pipelineSteps(p, res)
			hist, err := parseHistory(res.Saved["history"])
			if err != nil {
				return nil, err
			}
			return hist, nil
		}
		owner, since, now := parseLock(out)
		if why := r.stale(owner, since, now); why != "" {
			bp := statePipeline("lock", r.plan.Dir, executor.Step{Name: "break stale lock (" + why + ")", Script: breakScript,
				Env: []string{"FERRY_STALE=" + owner}})
			if _, err := r.pipeline(ctx, bp); err != nil {
				return nil, err
			}
			continue
		}
		if time.Now().After(deadline) {
			r.pipelineSteps(p, res)
			return nil, &LockedError{Host: r.ex.Host(), App: r.plan.App, Lock: lockDir, Owner: owner, Since: since}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// pipelineSteps adds a pipeline's result to the report.
func (r *run) pipelineSteps(p *executor.Pipeline, res *executor.Result) {
	if res == nil {
		return
	}
	for _, s := range res.Steps {
		st := StepReport{Phase: p.Name, Name: s.Name, Start: s.Start, Duration: s.Duration, Err: s.Err, Status: StatusOK}
		if s.Skipped {
			st.Status = StatusSkipped
		} else if s.Err != nil {
			st.Status = StatusFailed
		}
		r.rep.Steps = append(r.rep.Steps, st)
	}
}

// parseLock reads the lock script's report on a held lock.
func parseLock(out string) (owner string, since, now time.Time) {
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "owner":
			owner = v
		case "since", "now":
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			t := time.Unix(n, 0)
			if k == "since" {
				since = t
			} else {
				now = t
			}
		}
	}
	return owner, since, now
}

// stale says why a held lock may be broken, or "" when it may not.
func (r *run) stale(owner string, since, now time.Time) string {
	if max := r.opts.staleLock(); max > 0 && since.Unix() > 0 && now.Sub(since) > max {
		return fmt.Sprintf("taken %s ago", now.Sub(since).Round(time.Second))
	}
	fields := map[string]string{}
	for _, f := range strings.Fields(owner) {
		k, v, _ := strings.Cut(f, "=")
		fields[k] = v
	}
	host, _ := os.Hostname()
	pid, err := strconv.Atoi(fields["pid"])
	if err != nil || fields["host"] != host || pid == os.Getpid() {
		return ""
	}
	if !processAlive(pid) {
		return fmt.Sprintf("its owner, process %d on %s, has exited", pid, host)
	}
	return ""
}

// processAlive reports whether a local process exists.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscallZero)
	return err == nil || !errors.Is(err, os.ErrProcessDone)
}

// unlock releases the lock, whatever happened to ctx.
func (r *run) unlock(ctx context.Context) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	r.pipeline(uctx, statePipeline("unlock", r.plan.Dir, executor.Step{Name: "release lock", Script: unlockScript,
		Env: []string{"FERRY_OWNER=" + r.owner}}))
}

// newRecord describes this run for the history.
func (r *run) newRecord(from *Record, outcome Outcome, err error) Record {
	rec := Record{
		Release: r.rep.Release, Action: r.rep.Action, App: r.plan.App, Target: r.plan.Target,
		Version: r.rep.Version, Image: r.plan.Image, Previous: r.rep.Previous,
		Time: r.rep.Start.UTC().Truncate(time.Second), Seconds: time.Since(r.rep.Start).Round(time.Millisecond).Seconds(),
		Outcome: outcome, By: r.by,
	}
	if from != nil {
		rec.From = from.Release
		rec.Image = from.Image
	}
	if err != nil {
		rec.Error = stripPrefix(err)
	}
	return rec
}

// record appends a failed run to the history.
func (r *run) record(ctx context.Context, from *Record, outcome Outcome, err error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	line, _ := json.Marshal(r.newRecord(from, outcome, err))
	r.pipeline(rctx, statePipeline("record", r.plan.Dir, executor.Step{Name: "append to history", Script: recordScript,
		Env: []string{"FERRY_RECORD=" + string(line)}}))
}

// keep stores the successful release's files, makes it current and
// appends it to the history.
func (r *run) keep(ctx context.Context, from *Record) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	line, _ := json.Marshal(r.newRecord(from, Succeeded, nil))
	p := &executor.Pipeline{Name: "record", Env: []string{"FERRY_DIR=" + r.plan.Dir}, Steps: []executor.Step{
		{Name: "keep release files", Script: keepScript, Env: []string{
			"FERRY_RELEASE=" + strconv.Itoa(r.rep.Release),
			"FERRY_FILES=" + fileList(relFiles(r.plan.Dir, r.plan.Files)),
			"FERRY_KEEP=" + strconv.Itoa(r.opts.keep()),
		}},
		{Name: "append to history", Script: recordScript, Env: []string{"FERRY_RECORD=" + string(line)}},
	}}
	if from != nil {
		p.Steps[0].Env = append(p.Steps[0].Env, "FERRY_FROM="+strconv.Itoa(from.Release))
	}
	_, err := r.pipeline(rctx, p)
	return err
}
