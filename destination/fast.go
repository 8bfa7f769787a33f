package destination

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/translate"
)

// inlineLimit is the size up to which a file travels inside the deploy's
// script instead of by SFTP, which costs several round trips per file.
const inlineLimit = 256 << 10

// fastPath says whether a deploy can run as one pipeline up to verify:
// nothing to build or log in to first, and every file small text.
func (d *deployment) fastPath() bool {
	if len(d.plan.builds) > 0 || len(d.plan.auths) > 0 || len(d.opts.Registries) > 0 {
		return false
	}
	for _, f := range d.plan.Files {
		if len(f.Data) > inlineLimit || bytes.IndexByte(f.Data, 0) >= 0 {
			return false
		}
	}
	return true
}

// deployFast is Deploy in one round trip of the executor: one pipeline
// takes the lock, reads the history, checks, writes the files (carried
// in the script), applies, verifies, keeps the release, records it and
// releases the lock. The host numbers the release from its history as
// [deployment.number] does here (see [numbersScript]), since nothing
// comes back before the pipeline ends. Events and the report name each
// step's phase as the separate pipelines do. A failure is handled as in
// [deployment.run].
func (d *deployment) deployFast(ctx context.Context) (*Report, error) {
	rep := d.rep
	rep.Start = time.Now()
	defer func() { rep.Duration = time.Since(rep.Start) }()
	active.Store(d.owner.id, true)

	p, phases := d.fastPipeline()
	res, lockErr, err := d.runFast(ctx, p, phases)
	if lockErr != nil {
		return d.fail("lock", "take lock", lockErr, OutcomeFailed)
	}
	step := d.phaseSteps(p, phases, res, err)
	hist, herr := parseHistory(string(res.Steps[1].Stdout))
	d.number(hist)
	if err != nil {
		return d.fastFailed(ctx, phases, res, step, err)
	}
	active.Delete(d.owner.id)
	if herr != nil {
		// The host kept and recorded the release; only its report's
		// numbers may be wrong.
		return d.fail("record", "read history", herr, OutcomeSucceeded)
	}
	rep.Outcome = OutcomeSucceeded
	return rep, nil
}

// runFast runs the fast pipeline p, waiting for or breaking a held lock
// as [deployment.lockHeld] says, and returns its result and error. When
// the lock could not be taken, it returns why as lockErr instead; the
// lock steps are then in the report, and the lock released unless
// another deploy holds it.
func (d *deployment) runFast(ctx context.Context, p *executor.Pipeline, phases []string) (res *executor.Result, lockErr, err error) {
	run := *p
	if d.opts.Observer != nil {
		run.Observer = phased{d.opts.Observer, phases}
	}
	for {
		res, err = d.ex.Run(ctx, &run)
		again, lerr := d.lockHeld(ctx, res, err)
		if again {
			continue
		}
		if lerr != err || lockFailed(res) {
			d.phaseSteps(p, phases[:2], res, lerr)
			d.lockFailed(ctx, lerr)
			if lerr == nil {
				lerr = errors.New("destination: the lock steps did not run")
			}
			return res, lerr, nil
		}
		return res, nil, err
	}
}

// fastFailed handles the failure of step (an index of phases) of the
// fast pipeline, as the separate pipelines would have.
func (d *deployment) fastFailed(ctx context.Context, phases []string, res *executor.Result, step int, err error) (*Report, error) {
	phase, name := "lock", "read history"
	if step < len(phases) {
		phase, name = phases[step], res.Steps[step].Name
	}
	switch phase {
	case "lock", "check":
		defer d.unlock(ctx)
		d.record(ctx, nil, OutcomeFailed, err)
		return d.fail(phase, name, err, OutcomeFailed)
	case "upload":
		defer d.unlock(ctx)
		d.restore(ctx)
		d.record(ctx, nil, OutcomeFailed, err)
		return d.fail(phase, name, err, OutcomeFailed)
	case "record":
		// The release is live; keeping or recording it failed.
		d.unlock(ctx)
		return d.fail("record", name, err, OutcomeSucceeded)
	}
	defer d.unlock(ctx)
	return d.failLive(ctx, nil, phase, name, err)
}

// lockFailed reports whether the lock steps themselves did not succeed.
func lockFailed(res *executor.Result) bool {
	return res == nil || len(res.Steps) < 2 || !res.Steps[0].OK() || !res.Steps[1].OK()
}

// lockFailed releases the lock after a failed lock step, unless another
// deploy holds it.
func (d *deployment) lockFailed(ctx context.Context, err error) {
	if _, held := err.(*LockedError); held {
		active.Delete(d.owner.id)
		return
	}
	d.unlock(ctx)
}

// fastPipeline joins the lock, check, upload, apply, verify and record
// steps into one pipeline, each step keeping its own pipeline's directory and
// environment, and returns each step's phase.
func (d *deployment) fastPipeline() (*executor.Pipeline, []string) {
	out := &executor.Pipeline{Name: "deploy"}
	var phases []string
	add := func(pl *executor.Pipeline, phase string) {
		if pl == nil {
			return
		}
		out.Secrets = append(out.Secrets, pl.Secrets...)
		for _, st := range pl.Steps {
			if st.Dir == "" {
				st.Dir = pl.Dir
			}
			st.Env = append(append([]string(nil), pl.Env...), st.Env...)
			out.Steps = append(out.Steps, st)
			phases = append(phases, phase)
		}
	}
	add(&executor.Pipeline{Env: []string{"FERRY_DIR=" + d.plan.Dir}, Steps: d.lockSteps()}, "lock")
	add(d.plan.Check, "check")
	add(&executor.Pipeline{Steps: inlineUploads(d.plan.Files)}, "upload")
	add(d.plan.Apply, "apply")
	add(d.plan.Verify, "verify")
	add(&executor.Pipeline{Env: []string{"FERRY_DIR=" + d.plan.Dir}, Steps: d.recordSteps()}, "record")
	return out, phases
}

// inlineUploads writes each file from the script: to a temporary file in
// its directory, created with the file's mode, then renamed.
func inlineUploads(files []translate.File) []executor.Step {
	var steps []executor.Step
	for _, f := range files {
		tmp := path.Join(path.Dir(f.Path), ".ferry-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".tmp")
		steps = append(steps, executor.Step{Name: f.Path, Hidden: true, Script: fmt.Sprintf(
			"umask 077\nt=%s\nprintf '%%s' %s >\"$t\"\nchmod %o \"$t\"\nmv -f \"$t\" %s\n",
			quoted(tmp), quoted(string(f.Data)), fileMode(f), quoted(f.Path))})
	}
	return steps
}

// phaseSteps adds the result's steps to the report with their phases and
// returns the index of the failing step (len(phases) when none failed).
func (d *deployment) phaseSteps(p *executor.Pipeline, phases []string, res *executor.Result, err error) int {
	failed := len(phases)
	if res == nil {
		d.rep.Steps = append(d.rep.Steps, StepReport{Phase: phases[0], Name: p.Steps[0].Name, Start: time.Now(), Status: StatusFailed, Err: err})
		return 0
	}
	for i, s := range res.Steps {
		if i >= len(phases) {
			break
		}
		st := StepReport{Phase: phases[i], Name: s.Name, Start: s.Start, Duration: s.Duration, Err: s.Err, Status: StatusOK}
		switch {
		case s.Skipped && i > failed:
			continue // after the failure: not run, and not part of this deploy's story
		case s.Skipped:
			st.Status = StatusSkipped
		case s.Err != nil && p.Steps[i].IgnoreErrors:
			st.Status = StatusIgnored
		case s.Err != nil:
			st.Status = StatusFailed
			if failed == len(phases) {
				failed = i
			}
		}
		d.rep.Steps = append(d.rep.Steps, st)
	}
	if err != nil && failed == len(phases) {
		for i, s := range res.Steps {
			if s.Skipped {
				return i
			}
		}
	}
	return failed
}

// phased names each event's pipeline after its step's phase.
type phased struct {
	obs    executor.Observer
	phases []string
}

func (p phased) Event(e executor.Event) {
	if e.Index >= 0 && e.Index < len(p.phases) {
		e.Pipeline = p.phases[e.Index]
	}
	p.obs.Event(e)
}

// recordSteps end a fast deploy on the host, after verify: they keep
// the release's files, append its record to the history and release the
// lock, as [deployment.keep] and [deployment.unlock] do. The release's
// number, the previous release and the duration are found on the host
// (see [numbersScript] and [appendScript]); the rest of the record is
// this deploy's.
func (d *deployment) recordSteps() []executor.Step {
	action, when, end := d.recordParts()
	return []executor.Step{
		{Name: "keep release files", Script: numbersScript + "FERRY_RELEASE=$rel\n" + keepScript, Env: []string{
			"FERRY_FILES=" + fileList(relFiles(d.plan.Dir, d.plan.Files)),
			"FERRY_KEEP=" + strconv.Itoa(d.opts.keep()),
		}},
		{Name: "append to history", Script: numbersScript + appendScript, Env: []string{
			"FERRY_RECORD=" + action, "FERRY_RECORD_TIME=" + when, "FERRY_RECORD_END=" + end,
		}},
		{Name: "release lock", Script: unlockScript, Env: []string{"FERRY_OWNER=" + d.owner.line}},
	}
}

// recordParts splits this deploy's successful record, as JSON, around
// the fields the host fills in: the release number (before action), the
// previous release (between action and when) and the seconds (between
// when and end).
func (d *deployment) recordParts() (action, when, end string) {
	rec := d.newRecord(nil, OutcomeSucceeded, nil)
	rec.Release, rec.Previous, rec.Seconds = 0, 0, 0
	b, _ := json.Marshal(rec)
	// Keys are never inside a value: a quote in a value is escaped.
	s := strings.TrimPrefix(string(b), `{"release":0`)
	i := strings.Index(s, `,"time":"`)
	j := strings.Index(s, `,"seconds":0,`)
	return s[:i], s[i:j] + `,"seconds":`, s[j+len(`,"seconds":0`):]
}
