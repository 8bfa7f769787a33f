package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
		sp := &spec{Args: st.Args, Script: st.Script, Shell: st.Shell, Dir: st.Dir, User: st.User, Stdin: st.Stdin != nil}
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

// stepRun is the live state of one step of a batch.
type stepRun struct {
	idx      int
	split    [2]*lineSplitter
	capt     [2]*capture
	started  bool
	ended    [2]bool
	done     bool
	rc       int
	timedOut bool // a stop for its Timeout was sent
	hard     bool // that stop needed SIGKILL
	timer    *time.Timer
	over     chan struct{} // closed by finish
}

// batch runs steps first..last as one script on one session. It returns
// the index of the next step to run and the pipeline's error, if it must
// stop.
func (pr *pipelineRun) batch(ctx context.Context, first, last int) (int, error) {
	nonce := newNonce()
	steps := pr.p.Steps[first : last+1]
	ignore := make([]bool, len(steps))
	sudo := false
	for i := range steps {
		ignore[i] = steps[i].IgnoreErrors
		sudo = sudo || steps[i].User != ""
	}
	script := batchScript(pr.specs[first:last+1], ignore, first, nonce, pr.p.GracePeriod)

	var (
		mu         sync.Mutex
		cur        = [2]int{-1, -1}
		runs       = map[int]*stepRun{}
		pgid       int                            // the script's process group, once known
		gotPid     = make(chan struct{})          // closed when pgid is known
		killReq    = make(chan int, len(steps)+1) // step index timed out, or -1: cancelled
		xSeen      int
		cancelled  bool // the context ended: stopping everything
		hard       bool // that stop needed SIGKILL
		scriptDone = make(chan struct{})
		stray      = newCapture(2048)
		gate       *stdinGate // the last step's input, sent once the script runs
	)
	get := func(i int) *stepRun {
		s := runs[i]
		if s == nil {
			s = &stepRun{idx: i, over: make(chan struct{})}
			for k := 0; k < 2; k++ {
				k := k
				s.capt[k] = newCapture(pr.limit)
				hidden := pr.p.Steps[i].Hidden
				s.split[k] = &lineSplitter{red: pr.red, emit: func(line []byte) {
					s.capt[k].Write(line)
					if hidden {
						return
					}
					if pr.p.Observer != nil {
						pr.emit(Event{Kind: Output, Step: pr.res.Steps[i].Name, Index: i, Stream: Stream(k + 1), Line: string(line)})
					}
					if pr.debug {
						pr.r.log().Debug("output", "host", pr.r.host(), "step", pr.res.Steps[i].Name, "stream", Stream(k+1).String(), "line", string(line))
					}
				}}
			}
			runs[i] = s
		}
		return s
	}
	startStep := func(s *stepRun) {
		if s.started {
			return
		}
		s.started = true
		sr := &pr.res.Steps[s.idx]
		sr.Skipped = false
		sr.Start = time.Now()
		pr.emit(Event{Kind: StepStart, Step: sr.Name, Index: s.idx, Time: sr.Start})
		if t := pr.p.Steps[s.idx].Timeout; t > 0 {
			idx := s.idx
			s.timer = time.AfterFunc(t, func() { killReq <- idx })
		}
	}
	finish := func(s *stepRun, st exitStatus, err error) {
		if s.done {
			return
		}
		s.done = true
		close(s.over)
		// A step that ended well before its stop reached it was not
		// stopped.
		s.timedOut = s.timedOut && (st.code != 0 || st.signal != "")
		if s.timer != nil {
			s.timer.Stop()
		}
		for k := 0; k < 2; k++ {
			s.split[k].Flush()
		}
		sr := &pr.res.Steps[s.idx]
		sr.Duration = time.Since(sr.Start)
		sr.ExitCode = st.code
		sr.Signal = st.signal
		sr.Stdout, sr.Stderr = s.capt[0].Bytes(), s.capt[1].Bytes()
		sr.Truncated = s.capt[0].Truncated() || s.capt[1].Truncated()
		sr.TimedOut = s.timedOut
		hidden := pr.p.Steps[s.idx].Hidden
		if err == nil && (st.code != 0 || st.signal != "") {
			ee := &ExitError{
				Host: pr.r.host(), Step: sr.Name, Cmd: pr.red.string(pr.cmdString(s.idx)),
				Code: st.code, Signal: st.signal, Stderr: tail(sr.Stderr, 2048),
				Timeout: s.timedOut,
			}
			if hidden {
				ee.Stderr = nil // its output stays in the Result only
			}
			err = ee
		}
		sr.Err = err
		ev := sr
		if hidden {
			c := *sr
			c.Stdout, c.Stderr = nil, nil
			ev = &c
		}
		pr.emit(Event{Kind: StepEnd, Step: sr.Name, Index: s.idx, Result: ev})
		lvl := "ok"
		if err != nil {
			lvl = pr.red.string(err.Error())
		}
		pr.r.log().Info("step", "host", pr.r.host(), "pipeline", pr.name, "step", sr.Name, "code", sr.ExitCode, "duration", sr.Duration, "outcome", lvl)
	}
	marker := func(k int) func(string) {
		return func(m string) {
			mk, err := parseMarker(m)
			i, rc := mk.n, mk.code
			if err != nil || ((mk.kind == markStart || mk.kind == markEnd) && (i < first || i > last)) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch mk.kind {
			case markDone:
				xSeen++
				if xSeen == 2 {
					close(scriptDone)
				}
			case markPID:
				if pgid == 0 {
					pgid = i
					gate.release(true)
					close(gotPid)
				}
			case markStart:
				cur[k] = i
				startStep(get(i))
			case markEnd:
				s := get(i)
				s.split[k].Flush()
				s.ended[k] = true
				s.rc = rc
				cur[k] = -1
				if s.ended[0] && s.ended[1] {
					var err error
					if cancelled && rc != 0 {
						err = ctx.Err() // it failed because we stopped it
					}
					finish(s, statusFromShell(rc), err)
				}
			}
		}
	}
	data := func(k int) func([]byte) {
		return func(b []byte) {
			mu.Lock()
			defer mu.Unlock()
			if cur[k] < 0 {
				// Not a step's: login shell noise, or the bootstrap's
				// own complaint. Keep the tail of stderr for errors.
				pr.r.log().Debug("output outside any step", "host", pr.r.host(), "stream", Stream(k+1).String(), "bytes", len(b))
				if k == 1 {
					stray.Write(pr.red.bytes(b))
				}
				return
			}
			get(cur[k]).split[k].Write(b)
		}
	}
	outD := newDemux(nonce, data(0), marker(0))
	errD := newDemux(nonce, data(1), marker(1))

	var stdin io.Reader
	if in := steps[len(steps)-1].Stdin; in != nil {
		gate = newStdinGate(in)
		stdin = gate
	}
	proc, err := pr.r.start(ctx, script, stdin, outD, errD, false)
	if err != nil {
		gate.release(false)
		sr := &pr.res.Steps[first]
		sr.Skipped = false
		sr.Err = err
		sr.Start = time.Now()
		pr.emit(Event{Kind: StepEnd, Step: sr.Name, Index: first, Result: sr})
		return last + 1, pr.wrap(fmt.Errorf("step %q: %w", sr.Name, err))
	}

	// Stop the batch's processes when the context ends, and a step's
	// when its timeout passes.
	exited := make(chan struct{})
	stopper := make(chan struct{})
	go func() {
		defer close(stopper)
		for {
			select {
			case <-exited:
				return
			case <-ctx.Done():
				mu.Lock()
				cancelled = true
				mu.Unlock()
				select {
				case <-gotPid:
				case <-exited:
					return
				}
				h := stop(pr.r, stopTarget{pgid: pgid, token: runToken(nonce)}, pr.p.GracePeriod, sudo, exited)
				mu.Lock()
				hard = h
				mu.Unlock()
				return
			case i := <-killReq:
				// The request names its step: once that step ended,
				// it is dropped, and the stop itself finds only that
				// step's processes where the host allows it.
				mu.Lock()
				s := runs[i]
				live := s != nil && s.started && !s.done && pgid != 0
				if live {
					s.timedOut = true
				}
				mu.Unlock()
				if !live {
					continue
				}
				h := stop(pr.r, stopTarget{pgid: pgid, token: stepToken(nonce, i), step: true}, pr.p.GracePeriod, sudo, s.over, exited)
				mu.Lock()
				s.hard = h
				mu.Unlock()
			}
		}
	}()

	go func() {
		select {
		case <-scriptDone:
		case <-exited:
			return
		}
		select {
		case <-time.After(batchWaitDelay):
			proc.abort() // a background child holds the streams open
		case <-exited:
		}
	}()
	st, werr := proc.wait(0)
	gate.release(false)
	outD.Flush()
	errD.Flush()
	close(exited)
	<-stopper

	mu.Lock()
	defer mu.Unlock()
	sig := "TERM"
	if hard {
		sig = "KILL"
	}
	next := first
	timedOut := false
	for i := first; i <= last; i++ {
		s := runs[i]
		if s == nil || !s.started {
			continue
		}
		timedOut = timedOut || s.timedOut
		if !s.done {
			switch {
			case s.timedOut:
				sig := "TERM"
				if s.hard {
					sig = "KILL"
				}
				finish(s, exitStatus{code: 128 + signalNum(sig), signal: sig}, nil)
			case cancelled:
				finish(s, exitStatus{code: -1, signal: sig}, ctx.Err())
			case werr != nil && !errors.Is(werr, ErrWaitDelay):
				finish(s, exitStatus{code: -1}, werr)
			default:
				finish(s, st, nil)
			}
		}
		sr := &pr.res.Steps[i]
		if sr.Err != nil && !(pr.p.Steps[i].IgnoreErrors && !cancelled && !IsTransport(sr.Err)) {
			return last + 1, pr.wrap(namedStep(sr))
		}
		next = i + 1
	}
	if cancelled {
		return last + 1, pr.wrap(ctx.Err())
	}
	if werr != nil && !errors.Is(werr, ErrWaitDelay) && next <= last {
		// The connection failed before the step's start marker came
		// back: it may have started, so it is not reported as skipped.
		sr := &pr.res.Steps[next]
		sr.Skipped = false
		sr.Err = werr
		pr.emit(Event{Kind: StepEnd, Step: sr.Name, Index: next, Result: sr})
		return last + 1, pr.wrap(namedStep(sr))
	}
	if next <= last && !timedOut {
		// The script ended without running every step and nothing we
		// know of stopped it.
		msg := fmt.Sprintf("the host's shell stopped before step %q could start (exit status %d)", pr.res.Steps[next].Name, st.code)
		if l := lastLine(stray.Bytes()); l != "" {
			msg += ": " + l
		}
		sr := &pr.res.Steps[next]
		sr.Skipped = false
		sr.Err = &Error{Host: pr.r.host(), Step: sr.Name, Err: errors.New(msg)}
		pr.emit(Event{Kind: StepEnd, Step: sr.Name, Index: next, Result: sr})
		return last + 1, pr.wrap(sr.Err)
	}
	return next, nil
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
