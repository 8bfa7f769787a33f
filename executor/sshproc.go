package executor

import (
	"bytes"
	"encoding/binary"
	"io"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// The remote process: a script running in a session channel.

// switchWriter holds what a session writes before it is claimed (login
// shell noise) and then writes to the claimant's writer.
type switchWriter struct {
	mu      sync.Mutex
	w       io.Writer
	claimed bool
	early   []byte
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.claimed {
		if len(s.early) < 64<<10 {
			s.early = append(s.early, p...)
		}
		return len(p), nil
	}
	if s.w == nil {
		return len(p), nil
	}
	return s.w.Write(p)
}

func (s *switchWriter) claim(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claimed, s.w = true, w
	if w != nil && len(s.early) > 0 {
		w.Write(s.early)
	}
	s.early = nil
}

// sshProc is a process running in a session channel.
type sshProc struct {
	c       *Client
	conn    *ssh.Client
	ch      ssh.Channel
	release func()

	out, errOut *switchWriter

	copies   sync.WaitGroup
	statusCh chan struct{} // closed when exit-status or exit-signal arrived
	reqsDone chan struct{} // closed when the channel's requests end
	status   exitStatus
	once     sync.Once
	relOnce  sync.Once
}

func (p *sshProc) copyOut(w io.Writer, r io.Reader) {
	defer p.copies.Done()
	io.Copy(w, r)
}

// claim sends the session's output to stdout and stderr (nil discards).
func (p *sshProc) claim(stdout, stderr io.Writer) {
	p.out.claim(stdout)
	p.errOut.claim(stderr)
}

// feed sends the script, then stdin, then EOF.
func (p *sshProc) feed(script string, stdin io.Reader) {
	go func() {
		var in io.Reader = bytes.NewReader(frame(script))
		if stdin != nil {
			in = io.MultiReader(in, stdin)
		}
		io.Copy(p.ch, in)
		p.ch.CloseWrite()
	}()
}

func (p *sshProc) handleRequests(reqs <-chan *ssh.Request) {
	defer close(p.reqsDone)
	for req := range reqs {
		switch req.Type {
		case "exit-status":
			if len(req.Payload) >= 4 {
				p.setStatus(exitStatus{code: int(binary.BigEndian.Uint32(req.Payload))})
			}
		case "exit-signal":
			var msg struct {
				Signal     string
				CoreDumped bool
				Error      string
				Lang       string
			}
			if ssh.Unmarshal(req.Payload, &msg) == nil {
				n, _ := signalNumber(msg.Signal)
				p.setStatus(exitStatus{code: 128 + n, signal: msg.Signal})
			}
		}
		if req.WantReply {
			req.Reply(false, nil)
		}
	}
}

func (p *sshProc) setStatus(s exitStatus) {
	p.once.Do(func() {
		p.status = s
		close(p.statusCh)
	})
}

func (p *sshProc) wait(waitDelay time.Duration) (exitStatus, error) {
	defer p.done()
	err := waitCopies(&p.copies, p.statusCh, waitDelay, func() { p.ch.Close() })
	<-p.reqsDone
	select {
	case <-p.statusCh:
		return p.status, err
	default:
	}
	// No exit status: the connection died, or the server closed the
	// channel without one.
	if connErr := connDead(p.conn); connErr != nil {
		p.c.broken(p.conn, connErr)
		return exitStatus{code: -1}, &TransportError{Host: p.c.addr, Op: "connection", Started: true, Err: connErr}
	}
	return exitStatus{code: -1}, ErrNoExitStatus
}

func (p *sshProc) abort() {
	p.ch.Close()
	p.done()
}

func (p *sshProc) done() {
	p.relOnce.Do(func() {
		p.ch.Close()
		p.release()
	})
}
