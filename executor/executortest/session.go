package executortest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Handler serves one exec or shell request. It returns the exit status to
// send to the client. A negative status sends none, as when sshd loses
// its child: the client then reports a missing exit status. To report
// death by a signal instead, call [Session.SetExitSignal].
//
// A Handler may read Stdin and write Stdout and Stderr as it likes, from
// any goroutine, until it returns; after it returns the server sends EOF,
// the exit status and closes the channel. It should return soon after
// [Session.Context] is done, or [Server.Close] blocks. A panic in a
// Handler is not recovered.
type Handler func(s *Session) (exitStatus int)

// Session is one exec or shell request, as seen by a [Handler].
type Session struct {
	// Command is the command line of an exec request, or "" for a shell
	// request.
	Command string

	// Env holds "KEY=value" pairs from the env requests that preceded the
	// command, in the order received. All names are accepted.
	Env []string

	// User is the authenticated user.
	User string

	// Stdin reads the client's input. It returns io.EOF when the client
	// sends EOF or closes the channel.
	Stdin io.Reader

	// Stdout and Stderr write to the client's standard output and
	// standard error. Writes fail once the channel is closed.
	Stdout io.Writer
	Stderr io.Writer

	// Signals receives the signals the client sends with signal requests,
	// by name without "SIG" ("TERM"). Signals that arrive while the
	// buffer is full are dropped.
	Signals <-chan ssh.Signal

	ctx        context.Context
	srv        *Server
	exitSignal ssh.Signal
	coreDumped bool
}

// Context returns a context that is done when the client closes the
// channel, the connection is lost, or the server is closed.
func (s *Session) Context() context.Context { return s.ctx }

// SetExitSignal makes the server report that the command was killed by
// sig (a name without "SIG", such as ssh.SIGTERM) instead of sending the
// handler's exit status.
func (s *Session) SetExitSignal(sig ssh.Signal) { s.exitSignal = sig }

// signalNums maps the signal names of RFC 4254, which are the ones
// OpenSSH delivers, to signals.
var signalNums = map[ssh.Signal]syscall.Signal{
	ssh.SIGABRT: syscall.SIGABRT,
	ssh.SIGALRM: syscall.SIGALRM,
	ssh.SIGFPE:  syscall.SIGFPE,
	ssh.SIGHUP:  syscall.SIGHUP,
	ssh.SIGILL:  syscall.SIGILL,
	ssh.SIGINT:  syscall.SIGINT,
	ssh.SIGKILL: syscall.SIGKILL,
	ssh.SIGPIPE: syscall.SIGPIPE,
	ssh.SIGQUIT: syscall.SIGQUIT,
	ssh.SIGSEGV: syscall.SIGSEGV,
	ssh.SIGTERM: syscall.SIGTERM,
	ssh.SIGUSR1: syscall.SIGUSR1,
	ssh.SIGUSR2: syscall.SIGUSR2,
}

// signalName returns the name OpenSSH sends for sig in an exit-signal
// message: the RFC 4254 name, or "SIG@openssh.com" for any other.
func signalName(sig syscall.Signal) ssh.Signal {
	for name, n := range signalNums {
		if n == sig {
			return name
		}
	}
	return "SIG@openssh.com"
}

func killGroup(pgid int) { syscall.Kill(-pgid, syscall.SIGKILL) }

// Exec is the [Handler] used when [Server.Handler] is nil. It runs the
// command as sshd does, as the current user: "/bin/sh -c Command"
// (or /bin/sh reading Stdin for a shell request) in a new session
// (setsid), in [Server.Dir], with this process's environment plus
// s.Env, its standard streams wired to the channel. Signals from the
// client are sent to the command's process group. When the shell exits
// and its output has been copied (including output from background
// children still holding it), Exec returns its exit status, or sets the
// exit signal if a signal killed it. If the command cannot be started,
// Exec writes the error to Stderr and returns 255.
//
// Handlers may call Exec to run commands for real after inspecting or
// recording them; a handler that replaces s.Stdin must give a reader
// that returns EOF when the channel ends, or [Server.Close] blocks. The
// command's process group is killed by [Server.Close].
func Exec(s *Session) int {
	p, err := startShell(s)
	if err != nil {
		fmt.Fprintf(s.Stderr, "executortest: %v\n", err)
		return 255
	}
	return p.wait(s)
}

// shellProc is a command started by [Exec], with this process's ends of
// its standard streams.
type shellProc struct {
	cmd             *exec.Cmd
	inW, outR, errR *os.File
}

// startShell starts s's command under /bin/sh in a new session, in the
// server's directory, its standard streams on pipes.
func startShell(s *Session) (*shellProc, error) {
	args := []string{"/bin/sh"}
	if s.Command != "" {
		args = append(args, "-c", s.Command)
	}
	dir := ""
	if s.srv != nil {
		dir = s.srv.dir
	}
	cmd := &exec.Cmd{
		Path:        "/bin/sh",
		Args:        args,
		Env:         append(os.Environ(), s.Env...),
		Dir:         dir,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	var ends []*os.File // stdin, stdout and stderr: read end, write end
	closeAll := func(files ...*os.File) {
		for _, f := range files {
			f.Close()
		}
	}
	for range 3 {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(ends...)
			return nil, err
		}
		ends = append(ends, r, w)
	}
	inR, inW, outR, outW, errR, errW := ends[0], ends[1], ends[2], ends[3], ends[4], ends[5]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	err := s.srv.start(cmd)
	closeAll(inR, outW, errW)
	if err != nil {
		closeAll(inW, outR, errR)
		return nil, err
	}
	return &shellProc{cmd: cmd, inW: inW, outR: outR, errR: errR}, nil
}

// start starts cmd, recording its process group for Close; s may be nil
// (a Session made outside a Server).
func (s *Server) start(cmd *exec.Cmd) error {
	if s == nil {
		return cmd.Start()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("server closed")
	}
	// Start under the lock so that Close either sees the process group
	// or prevents the start.
	if err := cmd.Start(); err != nil {
		return err
	}
	s.pgids[cmd.Process.Pid] = struct{}{}
	return nil
}

// wait relays s's streams and signals to the command until it exits and
// its output has been copied, and returns its exit status (or sets the
// exit signal).
func (p *shellProc) wait(s *Session) int {
	pgid := p.cmd.Process.Pid
	serverCtx := context.Background()
	if s.srv != nil {
		serverCtx = s.srv.ctx
	}
	// Standard input: copied until the client sends EOF or the channel
	// closes; writes fail once no process reads the pipe.
	copyIn := func() {
		io.Copy(p.inW, s.Stdin)
		p.inW.Close()
	}
	if s.srv != nil {
		// Tracked by Close; it ends when the channel closes after Exec
		// returns, or when the connection is closed.
		s.srv.wg.Go(copyIn)
	} else {
		go copyIn()
	}

	// Output: copied until every holder of the pipes has closed them.
	// A failed write (channel gone) closes the read end, so the command
	// gets EPIPE as it would under sshd.
	var copies sync.WaitGroup
	copyOut := func(w io.Writer, r *os.File) {
		io.Copy(w, r)
		r.Close()
	}
	copies.Go(func() { copyOut(s.Stdout, p.outR) })
	copies.Go(func() { copyOut(s.Stderr, p.errR) })
	// On server close, stop waiting for output from processes that left
	// the process group.
	stopOnClose := context.AfterFunc(serverCtx, func() {
		p.outR.Close()
		p.errR.Close()
	})

	exited := make(chan struct{})
	var signals sync.WaitGroup
	signals.Go(func() {
		for {
			select {
			case <-exited:
				return
			case sig := <-s.Signals:
				if n, ok := signalNums[sig]; ok {
					syscall.Kill(-pgid, n)
				}
			}
		}
	})

	werr := p.cmd.Wait()
	copies.Wait()
	close(exited)
	signals.Wait()
	stopOnClose()
	if s.srv != nil {
		s.srv.mu.Lock()
		delete(s.srv.pgids, pgid)
		s.srv.mu.Unlock()
	}
	return p.status(s, werr)
}

// status is the command's exit status, given Wait's error; for a command
// killed by a signal, it sets s's exit signal and returns 0.
func (p *shellProc) status(s *Session, werr error) int {
	if werr != nil && p.cmd.ProcessState == nil {
		fmt.Fprintf(s.Stderr, "executortest: %v\n", werr)
		return 255
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		s.SetExitSignal(signalName(ws.Signal()))
		s.coreDumped = ws.CoreDump()
		return 0
	}
	return p.cmd.ProcessState.ExitCode()
}

// handle returns the function that runs sess, a session on ch, with
// the server's handler, and sends its exit status.
func (s *Server) handle(ctx context.Context, ch ssh.Channel, sess *Session) func() {
	sess.Stdin, sess.Stdout, sess.Stderr = ch, ch, ch.Stderr()
	sess.ctx, sess.srv = ctx, s
	h := s.Handler
	if h == nil {
		h = Exec
	}
	return func() { finish(ch, sess, h(sess)) }
}

// serveSession handles the requests on one session channel until the
// client closes it and the command, if any, has finished.
func (s *Server) serveSession(user string, ch ssh.Channel, reqs <-chan *ssh.Request) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	sigs := make(chan ssh.Signal, 16)
	var env []string
	var done chan struct{} // closed when the command or subsystem ends
	canSignal := false

	start := func(run func()) {
		done = make(chan struct{})
		s.wg.Go(func() {
			defer close(done)
			run()
		})
	}

	for req := range reqs {
		ok := false
		switch req.Type {
		case "env":
			var m struct{ Name, Value string }
			if done == nil && ssh.Unmarshal(req.Payload, &m) == nil {
				env = append(env, m.Name+"="+m.Value)
				ok = true
			}
		case "exec", "shell":
			var m struct{ Command string }
			if done != nil || (req.Type == "exec" && ssh.Unmarshal(req.Payload, &m) != nil) {
				break
			}
			canSignal = true
			req.Reply(true, nil)
			start(s.handle(ctx, ch, &Session{Command: m.Command, Env: env, User: user, Signals: sigs}))
			continue
		case "subsystem":
			var m struct{ Name string }
			if done != nil || ssh.Unmarshal(req.Payload, &m) != nil || m.Name != "sftp" {
				break
			}
			req.Reply(true, nil)
			start(func() { s.serveSFTP(ch) })
			continue
		case "signal":
			var m struct{ Signal string }
			if canSignal && ssh.Unmarshal(req.Payload, &m) == nil {
				if _, known := signalNums[ssh.Signal(m.Signal)]; known {
					select {
					case sigs <- ssh.Signal(m.Signal):
						ok = true
					default:
					}
				}
			}
		default:
			// pty-req, x11-req, auth-agent-req@openssh.com, window-change...
		}
		req.Reply(ok, nil)
	}
	// The client closed the channel, or the connection is gone. Like
	// sshd, keep the session (and its slot) until the command ends.
	cancel()
	if done != nil {
		<-done
	}
}

// finish sends EOF, the exit status or signal, and closes the channel.
func finish(ch ssh.Channel, sess *Session, status int) {
	ch.CloseWrite()
	switch {
	case sess.exitSignal != "":
		ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}{string(sess.exitSignal), sess.coreDumped, "", ""}))
	case status >= 0:
		ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
	}
	ch.Close()
}

// serveSFTP serves the SFTP subsystem on ch until the client ends it.
func (s *Server) serveSFTP(ch ssh.Channel) {
	srv, err := sftp.NewServer(ch, sftp.WithServerWorkingDirectory(s.dir))
	if err != nil {
		fmt.Fprintf(ch.Stderr(), "executortest: %v\n", err)
		ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{1}))
		ch.Close()
		return
	}
	srv.Serve()
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
	srv.Close()
}
