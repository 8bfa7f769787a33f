package destination

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/executor"
)

// ErrNoPrevious is wrapped by the error of a [Rollback] to the previous
// release when there is none to go back to.
var ErrNoPrevious = errors.New("destination: no earlier successful release to roll back to")

// ErrNoRelease is wrapped by the error of a [Rollback] to a release
// number that did not succeed or whose files are no longer kept.
var ErrNoRelease = errors.New("destination: no such release to roll back to")

// History returns the history of the app whose directory on the host is
// dir ([Plan.Dir]), oldest first. An app never deployed has an empty
// history. Errors are the executor's, or say which line of the history
// file is not a record.
func History(ctx context.Context, ex executor.Executor, dir string) ([]Record, error) {
	res, err := ex.Run(ctx, statePipeline("history", dir, executor.Step{
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
	// Action is "deploy", "rollback" or "remove".
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

// live returns the release live according to the history, or nil: the
// last successful deploy or rollback, unless a removal came after it.
func live(hist []Record) *Record {
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Action == "remove" && hist[i].Outcome == OutcomeSucceeded {
			return nil
		}
		if hist[i].Outcome == OutcomeSucceeded {
			return &hist[i]
		}
	}
	return nil
}

// previousOf returns the release to roll back to: the last successful
// one before the live one, with a different version.
func previousOf(hist []Record) (*Record, error) {
	cur := live(hist)
	if cur == nil {
		return nil, ErrNoPrevious
	}
	for i := len(hist) - 1; i >= 0; i-- {
		r := &hist[i]
		if r.Outcome == OutcomeSucceeded && r.Action != "remove" && r.Release < cur.Release && r.Version != cur.Version {
			return r, nil
		}
	}
	return nil, ErrNoPrevious
}

// releaseNumber picks release n, if it succeeded. Whether its files are
// still kept is checked on the host when they are restored.
func releaseNumber(n int) func([]Record) (*Record, error) {
	return func(hist []Record) (*Record, error) {
		for i := range hist {
			if r := &hist[i]; r.Release == n && r.Action != "remove" {
				if r.Outcome != OutcomeSucceeded {
					return nil, fmt.Errorf("%w: release %d %s", ErrNoRelease, n, r.Outcome)
				}
				return r, nil
			}
		}
		return nil, fmt.Errorf("%w: release %d is not in the history", ErrNoRelease, n)
	}
}

// newRecord describes this run for the history.
func (d *deployment) newRecord(from *Record, outcome Outcome, err error) Record {
	rec := Record{
		Release: d.rep.Release, Action: d.rep.Action, App: d.plan.App, Target: d.plan.Target,
		Version: d.rep.Version, Image: d.plan.Image, Previous: d.rep.Previous,
		Time: d.rep.Start.UTC().Truncate(time.Second), Seconds: time.Since(d.rep.Start).Round(time.Millisecond).Seconds(),
		Outcome: outcome, By: d.owner.by,
	}
	if from != nil {
		rec.From = from.Release
		rec.Image = from.Image
	}
	if err != nil {
		rec.Error = describe(err)
	}
	return rec
}

// record appends a failed run to the history.
func (d *deployment) record(ctx context.Context, from *Record, outcome Outcome, err error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	line, _ := json.Marshal(d.newRecord(from, outcome, err))
	d.pipeline(rctx, statePipeline("record", d.plan.Dir, executor.Step{Name: "append to history", Script: recordScript,
		Env: []string{"FERRY_RECORD=" + string(line)}}))
}

// keep stores the successful release's files, makes it current and
// appends it to the history.
func (d *deployment) keep(ctx context.Context, from *Record) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	line, _ := json.Marshal(d.newRecord(from, OutcomeSucceeded, nil))
	p := &executor.Pipeline{Name: "record", Env: []string{"FERRY_DIR=" + d.plan.Dir}, Steps: []executor.Step{
		{Name: "keep release files", Script: keepScript, Env: []string{
			"FERRY_RELEASE=" + strconv.Itoa(d.rep.Release),
			"FERRY_FILES=" + fileList(relFiles(d.plan.Dir, d.plan.Files)),
			"FERRY_KEEP=" + strconv.Itoa(d.opts.keep()),
		}},
		{Name: "append to history", Script: recordScript, Env: []string{"FERRY_RECORD=" + string(line)}},
	}}
	if from != nil {
		p.Steps[0].Env = append(p.Steps[0].Env, "FERRY_FROM="+strconv.Itoa(from.Release))
	}
	_, _, err := d.pipeline(rctx, p)
	return err
}
