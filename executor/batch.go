package executor

import (
	"context"
	"errors"
	"fmt"
	"github.com/ferryhq/ferry/internal/lastline"
	"io"
	"sync"
	"time"
)

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

// batchRun is one batch of a pipeline: steps first..last run as one
// script on one session. The demuxes of its two streams call takeMarker
// and takeOutput; a stopper goroutine acts on timeouts and on the
// context's end; settle turns what the script reported into the steps'
// results once it exited. The fields below mu are guarded by it.
type batchRun struct {
	pr          *pipelineRun
	ctx         context.Context
	first, last int
	nonce       string
	sudo        bool // a step runs as another user: stops go through sudo

	gotPid     chan struct{} // closed when pgid is known
	killReq    chan int      // step index timed out, or -1: cancelled
	scriptDone chan struct{} // closed when both streams said the script is done
	exited     chan struct{} // closed when the script's process ended
	stray      *capture      // stderr outside any step (guarded by mu)
	gate       *stdinGate    // the last step's input, sent once the script runs

	mu        sync.Mutex
	cur       [2]int // the step each stream is in, or -1
	runs      map[int]*stepRun
	pgid      int // the script's process group, once known
	xSeen     int // done markers seen, one per stream
	cancelled bool
	hard      bool // the stop for the context's end needed SIGKILL
}

// batch runs steps first..last as one script on one session. It returns
// the index of the next step to run and the pipeline's error, if it must
// stop.
func (pr *pipelineRun) batch(ctx context.Context, first, last int) (int, error) {
	b := &batchRun{
		pr: pr, ctx: ctx, first: first, last: last, nonce: newNonce(),
		gotPid:     make(chan struct{}),
		killReq:    make(chan int, last-first+2),
		scriptDone: make(chan struct{}),
		exited:     make(chan struct{}),
		stray:      newCapture(2048),
		cur:        [2]int{-1, -1},
		runs:       map[int]*stepRun{},
	}
	steps := pr.p.Steps[first : last+1]
	ignore := make([]bool, len(steps))
	for i := range steps {
		ignore[i] = steps[i].IgnoreErrors
		b.sudo = b.sudo || steps[i].User != ""
	}
	script := batchScript(pr.specs[first:last+1], ignore, first, b.nonce, pr.p.GracePeriod)
	outD := newDemux(b.nonce, func(p []byte) { b.takeOutput(0, p) }, func(m string) { b.takeMarker(0, m) })
	errD := newDemux(b.nonce, func(p []byte) { b.takeOutput(1, p) }, func(m string) { b.takeMarker(1, m) })

	var stdin io.Reader
	if in := steps[len(steps)-1].Stdin; in != nil {
		b.gate = newStdinGate(in)
		stdin = b.gate
	}
	proc, err := pr.r.start(ctx, script, stdin, outD, errD, false)
	if err != nil {
		return b.startFailed(err)
	}
	stopper := make(chan struct{})
	go b.stopper(stopper)
	go b.bound(proc)
	st, werr := proc.wait(0)
	b.gate.release(false)
	outD.Flush()
	errD.Flush()
	close(b.exited)
	<-stopper
	return b.settle(st, werr)
}

// startFailed reports a script that could not start as the failure of
// the batch's first step.
func (b *batchRun) startFailed(err error) (int, error) {
	pr := b.pr
	b.gate.release(false)
	sr := &pr.res.Steps[b.first]
	sr.Skipped = false
	sr.Err = err
	sr.Start = time.Now()
	pr.emit(Event{Kind: StepEnd, Step: sr.Name, Index: b.first, Result: sr})
	return b.last + 1, pr.wrap(fmt.Errorf("step %q: %w", sr.Name, err))
}

// step returns step i's live state, creating it on first use. b.mu is
// held.
func (b *batchRun) step(i int) *stepRun {
	s := b.runs[i]
	if s != nil {
		return s
	}
	pr := b.pr
	s = &stepRun{idx: i, over: make(chan struct{})}
	hidden := pr.p.Steps[i].Hidden
	for k := 0; k < 2; k++ {
		k := k
		s.capt[k] = newCapture(pr.limit)
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
	b.runs[i] = s
	return s
}

// startStep records that s started and arms its timeout. b.mu is held.
func (b *batchRun) startStep(s *stepRun) {
	if s.started {
		return
	}
	s.started = true
	pr := b.pr
	sr := &pr.res.Steps[s.idx]
	sr.Skipped = false
	sr.Start = time.Now()
	pr.emit(Event{Kind: StepStart, Step: sr.Name, Index: s.idx, Time: sr.Start})
	if t := pr.p.Steps[s.idx].Timeout; t > 0 {
		idx := s.idx
		s.timer = time.AfterFunc(t, func() { b.killReq <- idx })
	}
}

// takeMarker acts on marker payload m read from stream k (0 stdout, 1
// stderr).
func (b *batchRun) takeMarker(k int, m string) {
	mk, err := parseMarker(m)
	i, rc := mk.n, mk.code
	if err != nil || ((mk.kind == markStart || mk.kind == markEnd) && (i < b.first || i > b.last)) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch mk.kind {
	case markDone:
		b.xSeen++
		if b.xSeen == 2 {
			close(b.scriptDone)
		}
	case markPID:
		if b.pgid == 0 {
			b.pgid = i
			b.gate.release(true)
			close(b.gotPid)
		}
	case markStart:
		b.cur[k] = i
		b.startStep(b.step(i))
	case markEnd:
		s := b.step(i)
		s.split[k].Flush()
		s.ended[k] = true
		s.rc = rc
		b.cur[k] = -1
		if s.ended[0] && s.ended[1] {
			var err error
			if b.cancelled && rc != 0 {
				err = b.ctx.Err() // it failed because we stopped it
			}
			b.finish(s, statusFromShell(rc), err)
		}
	}
}

// takeOutput takes output p of stream k (0 stdout, 1 stderr), between
// markers.
func (b *batchRun) takeOutput(k int, p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur[k] < 0 {
		// Not a step's: login shell noise, or the bootstrap's own
		// complaint. Keep the tail of stderr for errors.
		b.pr.r.log().Debug("output outside any step", "host", b.pr.r.host(), "stream", Stream(k+1).String(), "bytes", len(p))
		if k == 1 {
			b.stray.Write(b.pr.red.bytes(p))
		}
		return
	}
	b.step(b.cur[k]).split[k].Write(p)
}

// finish records s's end with status st and error err (nil: derived
// from st), and reports it. b.mu is held.
func (b *batchRun) finish(s *stepRun, st exitStatus, err error) {
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
	pr := b.pr
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

// stopper stops the batch's processes when the context ends, and a
// step's when its timeout passes, until the script exited; it closes
// done when it returns.
func (b *batchRun) stopper(done chan<- struct{}) {
	defer close(done)
	pr := b.pr
	for {
		select {
		case <-b.exited:
			return
		case <-b.ctx.Done():
			b.mu.Lock()
			b.cancelled = true
			b.mu.Unlock()
			select {
			case <-b.gotPid:
			case <-b.exited:
				return
			}
			h := stop(pr.r, stopTarget{pgid: b.pgid, token: runToken(b.nonce)}, pr.p.GracePeriod, b.sudo, b.exited)
			b.mu.Lock()
			b.hard = h
			b.mu.Unlock()
			return
		case i := <-b.killReq:
			// The request names its step: once that step ended, it is
			// dropped, and the stop itself finds only that step's
			// processes where the host allows it.
			b.mu.Lock()
			s := b.runs[i]
			live := s != nil && s.started && !s.done && b.pgid != 0
			if live {
				s.timedOut = true
			}
			b.mu.Unlock()
			if !live {
				continue
			}
			h := stop(pr.r, stopTarget{pgid: b.pgid, token: stepToken(b.nonce, i), step: true}, pr.p.GracePeriod, b.sudo, s.over, b.exited)
			b.mu.Lock()
			s.hard = h
			b.mu.Unlock()
		}
	}
}

// bound aborts proc when its streams stay open batchWaitDelay after the
// script said it is done: a background child holds them.
func (b *batchRun) bound(p proc) {
	select {
	case <-b.scriptDone:
	case <-b.exited:
		return
	}
	select {
	case <-time.After(batchWaitDelay):
		p.abort()
	case <-b.exited:
	}
}

// settle finishes the steps that started but sent no end marker, once
// the script exited with st and werr, and returns the index of the next
// step to run and the pipeline's error, if it must stop.
func (b *batchRun) settle(st exitStatus, werr error) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	pr := b.pr
	sig := "TERM"
	if b.hard {
		sig = "KILL"
	}
	next := b.first
	timedOut := false
	for i := b.first; i <= b.last; i++ {
		s := b.runs[i]
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
				b.finish(s, exitStatus{code: 128 + signalNum(sig), signal: sig}, nil)
			case b.cancelled:
				b.finish(s, exitStatus{code: -1, signal: sig}, b.ctx.Err())
			case werr != nil && !errors.Is(werr, ErrWaitDelay):
				b.finish(s, exitStatus{code: -1}, werr)
			default:
				b.finish(s, st, nil)
			}
		}
		sr := &pr.res.Steps[i]
		if sr.Err != nil && !(pr.p.Steps[i].IgnoreErrors && !b.cancelled && !IsTransport(sr.Err)) {
			return b.last + 1, pr.wrap(namedStep(sr))
		}
		next = i + 1
	}
	if b.cancelled {
		return b.last + 1, pr.wrap(b.ctx.Err())
	}
	return b.unfinished(next, timedOut, st, werr)
}

// unfinished reports why the batch stopped before step next, if it did
// (next <= b.last). b.mu is held.
func (b *batchRun) unfinished(next int, timedOut bool, st exitStatus, werr error) (int, error) {
	pr := b.pr
	if werr != nil && !errors.Is(werr, ErrWaitDelay) && next <= b.last {
		// The connection failed before the step's start marker came
		// back: it may have started, so it is not reported as skipped.
		sr := &pr.res.Steps[next]
		sr.Skipped = false
		sr.Err = werr
		pr.emit(Event{Kind: StepEnd, Step: sr.Name, Index: next, Result: sr})
		return b.last + 1, pr.wrap(namedStep(sr))
	}
	if next <= b.last && !timedOut {
		// The script ended without running every step and nothing we
		// know of stopped it.
		msg := fmt.Sprintf("the host's shell stopped before step %q could start (exit status %d)", pr.res.Steps[next].Name, st.code)
		if l := lastline.Of(b.stray.Bytes(), 200); l != "" {
			msg += ": " + l
		}
		sr := &pr.res.Steps[next]
		sr.Skipped = false
		sr.Err = &Error{Host: pr.r.host(), Step: sr.Name, Err: errors.New(msg)}
		pr.emit(Event{Kind: StepEnd, Step: sr.Name, Index: next, Result: sr})
		return b.last + 1, pr.wrap(sr.Err)
	}
	return next, nil
}
