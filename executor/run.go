package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ferryhq/ferry/internal/shquote"
)

const defaultOutputLimit = 64 << 10

// batchWaitDelay bounds how long a batch waits for its output streams
// once its script said it is done (a step may leave a background child
// holding them open). Output of the script itself is never cut short:
// the wait starts only after its last marker arrived on both streams.
const batchWaitDelay = 2 * time.Second

// runPipeline runs p on r. It is shared by [Client.Run] and [Local.Run].
func runPipeline(ctx context.Context, r runner, p *Pipeline) (*Result, error) {
	n := len(p.Steps)
	res := &Result{Host: r.host(), Start: time.Now(), Steps: make([]StepResult, n)}
	pr := &pipelineRun{r: r, p: p, res: res, specs: make([]*spec, n)}
	secrets := [][]string{p.Secrets}
	for i := range p.Steps {
		secrets = append(secrets, p.Steps[i].Secrets)
	}
	if pw := r.sudoPassword(); pw != "" {
		secrets = append(secrets, []string{pw})
	}
	pr.red = newRedactor(secrets...)
	// Names reach error texts quoted: a secret in a name is redacted
	// there too, as in every event.
	pr.name = pr.red.string(p.Name)
	res.Pipeline = pr.name
	pr.debug = r.log().Enabled(context.Background(), slog.LevelDebug)
	pr.limit = p.OutputLimit
	if pr.limit <= 0 {
		pr.limit = defaultOutputLimit
	}
	for i := range p.Steps {
		st := &p.Steps[i]
		res.Steps[i] = StepResult{Name: pr.red.string(stepName(st, i)), ExitCode: -1, Skipped: true}
		sp := &spec{Step: *st, ReadsStdin: st.Stdin != nil}
		if sp.Dir == "" {
			sp.Dir = p.Dir
		}
		sp.Env = append(append([]string(nil), p.Env...), st.Env...)
		if st.User != "" {
			sp.SudoPwd = r.sudoPassword()
		}
		if err := sp.check(); err != nil {
			return res, &Error{Host: r.host(), Step: res.Steps[i].Name, Err: errors.New(pr.red.string(err.Error()))}
		}
		pr.specs[i] = sp
	}
	var err error
	for i := 0; i < n && err == nil; {
		j := i
		for j < n-1 && p.Steps[j].Stdin == nil {
			j++
		}
		i, err = pr.batch(ctx, i, j)
	}
	res.Duration = time.Since(res.Start)
	for i := range res.Steps {
		if st := &res.Steps[i]; p.Steps[i].Save != "" && st.OK() {
			if res.Saved == nil {
				res.Saved = map[string]string{}
			}
			res.Saved[p.Steps[i].Save] = string(bytes.TrimSuffix(st.Stdout, []byte("\n")))
		}
	}
	return res, err
}

func stepName(st *Step, i int) string {
	if st.Name != "" {
		return st.Name
	}
	return "step " + strconv.Itoa(i+1)
}

type pipelineRun struct {
	r     runner
	p     *Pipeline
	name  string // p.Name, redacted
	res   *Result
	specs []*spec
	red   *redactor
	limit int
	debug bool // the logger takes debug records: log each line
	obsMu sync.Mutex
}

func (pr *pipelineRun) emit(e Event) {
	if pr.p.Observer == nil {
		return
	}
	e.Host, e.Pipeline = pr.r.host(), pr.name
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	pr.obsMu.Lock()
	defer pr.obsMu.Unlock()
	pr.p.Observer.Event(e)
}

// namedStep returns the step's error, naming the step unless the error
// already does ([*ExitError] and [*Error] carry it).
func namedStep(sr *StepResult) error {
	var ee *ExitError
	var e *Error
	if errors.As(sr.Err, &ee) || errors.As(sr.Err, &e) {
		return sr.Err
	}
	return fmt.Errorf("step %q: %w", sr.Name, sr.Err)
}

// wrap names the pipeline in err, when it has a name.
func (pr *pipelineRun) wrap(err error) error {
	if pr.name == "" {
		return err
	}
	return fmt.Errorf("pipeline %q: %w", pr.name, err)
}

func signalNum(name string) int {
	n, _ := signalNumber(name)
	return n
}

// statusFromShell turns a shell's $? into a status: above 128 it names
// the signal that killed the command, as shells report it.
func statusFromShell(rc int) exitStatus {
	if rc > 128 {
		if name := signalName(rc - 128); name != "" {
			return exitStatus{code: rc, signal: name}
		}
	}
	return exitStatus{code: rc}
}

func (pr *pipelineRun) cmdString(i int) string {
	st := &pr.p.Steps[i]
	if st.Script != "" {
		return "script"
	}
	args := make([]string, len(st.Args))
	for i, a := range st.Args {
		args[i] = pr.red.string(a)
	}
	return shquote.Join(args)
}

func tail(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return b[len(b)-n:]
}
