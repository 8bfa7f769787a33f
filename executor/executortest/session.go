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
	fail := func(err error) int {
		fmt.Fprintf(s.Stderr, "executortest: %v\n", err)
		return 255
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return fail(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return fail(err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW

	serverCtx := context.Background()
	if s.srv != nil {
		serverCtx = s.srv.ctx
		s.srv.mu.Lock()
		if s.srv.closed {
			s.srv.mu.Unlock()
			err = fmt.Errorf("server closed")
		} else {
			// Start under the lock so that Close either sees the
			// process group or prevents the start.
			err = cmd.Start()
			if err == nil {
				s.srv.pgids[cmd.Process.Pid] = struct{}{}
			}
			s.srv.mu.Unlock()
		}
	} else {
		err = cmd.Start()
	}
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return fail(err)
	}
	pgid := cmd.Process.Pid

	// Standard input: copied until the client sends EOF or the channel
	// closes; writes fail once no process reads the pipe.
	copyIn := func() {
		io.Copy(inW, s.Stdin)
		inW.Close()
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
	copies.Go(func() { copyOut(s.Stdout, outR) })
	copies.Go(func() { copyOut(s.Stderr, errR) })
	// On server close, stop waiting for output from processes that left
	// the process group.
	stopOnClose := context.AfterFunc(serverCtx, func() {
		outR.Close()
		errR.Close()
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

	werr := cmd.Wait()
	copies.Wait()
	close(exited)
	signals.Wait()
	stopOnClose()
	if s.srv != nil {
		s.srv.mu.Lock()
		delete(s.srv.pgids, pgid)
		s.srv.mu.Unlock()
	}

	if werr != nil && cmd.ProcessState == nil {
		return fail(werr)
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		s.SetExitSignal(signalName(ws.Signal()))
		s.coreDumped = ws.CoreDump()
		return 0
	}
	return cmd.ProcessState.ExitCode()
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
			ok = true
			canSignal = true
			sess := &Session{
				Command: m.Command,
				Env:     env,
				User:    user,
				Stdin:   ch,
				Stdout:  ch,
				Stderr:  ch.Stderr(),
				Signals: sigs,
				ctx:     ctx,
				srv:     s,
			}
			h := s.Handler
			if h == nil {
				h = Exec
			}
			req.Reply(true, nil)
			start(func() { finish(ch, sess, h(sess)) })
			continue
		case "subsystem":
			var m struct{ Name string }
			if done != nil || ssh.Unmarshal(req.Payload, &m) != nil || m.Name != "sftp" {
				break
			}
			ok = true
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
