package executor

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Local runs commands and pipelines on this machine, with the same
// scripts, semantics and results as [Client] (the "host" is /bin/sh
// here). The zero value is ready to use.
type Local struct {
	// SudoPassword is as in [Config.SudoPassword].
	SudoPassword string
	// Logger receives debug records; nil discards them.
	Logger *slog.Logger
}

// Command returns a [Cmd] that runs args on this machine.
func (l *Local) Command(args ...string) *Cmd { return newCmd(l, args) }

// Run runs the pipeline on this machine; see [Client.Run].
func (l *Local) Run(ctx context.Context, p *Pipeline) (*Result, error) {
	return runPipeline(ctx, l, p)
}

// Host returns "localhost".
func (l *Local) Host() string { return "localhost" }

// Close does nothing and returns nil.
func (l *Local) Close() error { return nil }

func (l *Local) host() string         { return "localhost" }
func (l *Local) sudoPassword() string { return l.SudoPassword }
func (l *Local) log() *slog.Logger {
	if l.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Logger
}

func (l *Local) start(ctx context.Context, script string, stdin io.Reader, stdout, stderr io.Writer, control bool) (proc, error) {
	// The shell gets pipes made here, not by os/exec, so that Wait
	// returns when the process exits and the copying is ours to bound.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd := exec.Command("/bin/sh", "-c", bootstrap)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	// Its own session, as sshd gives every session: the process group
	// to stop is the shell's pid.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return nil, err
	}
	p := &localProc{cmd: cmd, outR: outR, errR: errR, inW: inW}
	p.copies.Add(2)
	go p.copy(stdout, outR)
	go p.copy(stderr, errR)
	go func() {
		var in io.Reader = bytes.NewReader(frame(script))
		if stdin != nil {
			in = io.MultiReader(in, stdin)
		}
		io.Copy(inW, in)
		inW.Close()
	}()
	return p, nil
}

type localProc struct {
	cmd        *exec.Cmd
	outR, errR *os.File
	inW        *os.File
	copies     sync.WaitGroup
}

func (p *localProc) copy(w io.Writer, r io.Reader) {
	defer p.copies.Done()
	if w == nil {
		w = io.Discard
	}
	io.Copy(w, r)
}

func (p *localProc) wait(waitDelay time.Duration) (exitStatus, error) {
	werr := p.cmd.Wait()
	err := waitCopies(&p.copies, exitedAlready, waitDelay, func() {
		p.outR.Close()
		p.errR.Close()
	})
	p.outR.Close()
	p.errR.Close()
	p.inW.Close()
	ps := p.cmd.ProcessState
	if ps == nil {
		return exitStatus{code: -1}, werr
	}
	ws := ps.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		n := int(ws.Signal())
		return exitStatus{code: 128 + n, signal: signalName(n)}, err
	}
	return exitStatus{code: ws.ExitStatus()}, err
}

func (p *localProc) abort() {
	p.outR.Close()
	p.errR.Close()
	p.inW.Close()
}
