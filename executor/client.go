package executor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// Client runs commands on one host over one SSH connection. It is safe
// for concurrent use: sessions are opened on the shared connection, at
// most [Config.MaxSessions] at a time, and the connection is dialled again
// when it breaks. The caller must call [Client.Close] when finished.
type Client struct {
	addr string
	cfg  *Config
	lg   *slog.Logger

	slots   chan struct{} // work sessions
	control chan struct{} // reserved for stopping processes

	dialMu sync.Mutex // serializes redials
	mu     sync.Mutex
	conn   *ssh.Client // nil when broken
	gen    int         // bumped on every new connection
	closed bool

	sftp sftpHolder // the SFTP session, opened on first use (sftp.go)

	spare       *sshProc // a session waiting for its script; see refill
	refilling   bool
	refillDone  chan struct{} // closed when the refill in flight ends
	spareWaiter bool          // a command waits for that refill
	hooks       []func()      // run when the connection changes or closes
}

// Dial connects to addr ("host" or "host:port"; the port defaults to 22)
// and authenticates. ctx bounds the TCP dial and the SSH handshake,
// retries included; cancelling it afterwards has no effect on the
// client. Errors are [*TransportError]; a host key that is unknown or
// changed is reported as a [*HostKeyError] inside it.
func Dial(ctx context.Context, addr string, cfg *Config) (*Client, error) {
	if cfg == nil {
		return nil, &TransportError{Host: addr, Op: "dial", Err: errors.New("nil Config")}
	}
	a, err := normalizeAddr(addr)
	if err != nil {
		return nil, &TransportError{Host: addr, Op: "dial", Err: err}
	}
	c := &Client{
		addr:    a,
		cfg:     cfg,
		lg:      cfg.logger().With("host", a),
		slots:   make(chan struct{}, cfg.maxSessions()),
		control: make(chan struct{}, 1),
	}
	if _, _, err := c.connect(ctx); err != nil {
		return nil, err
	}
	c.refill()
	return c, nil
}

// Host returns the address the client is connected to, "host:port".
func (c *Client) Host() string { return c.addr }

func (c *Client) host() string         { return c.addr }
func (c *Client) log() *slog.Logger    { return c.lg }
func (c *Client) sudoPassword() string { return c.cfg.SudoPassword }

// SSH returns the current underlying connection, dialling again if it is
// broken, for uses this package does not cover (port forwarding, say).
// It must not be closed by the caller.
func (c *Client) SSH(ctx context.Context) (*ssh.Client, error) {
	conn, _, err := c.connect(ctx)
	return conn, err
}

// Close closes the connection. Running commands fail with a
// [*TransportError].
func (c *Client) Close() error {
	c.mu.Lock()
	conn := c.conn
	c.conn = nil
	c.closed = true
	hooks := c.hooks
	c.hooks = nil
	spare := c.spare
	c.spare = nil
	c.mu.Unlock()
	if spare != nil {
		spare.abort()
	}
	var errs []error
	for _, h := range hooks {
		h()
	}
	if conn != nil {
		if err := conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// onReset registers f to run once, when the current connection is
// replaced or the client closes (used to drop per-connection state such as
// an SFTP client).
func (c *Client) onReset(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooks = append(c.hooks, f)
}

var errClosed = errors.New("client is closed")

// connect returns the live connection, dialling (with retries) when there
// is none.
func (c *Client) connect(ctx context.Context) (*ssh.Client, int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, 0, &TransportError{Host: c.addr, Op: "dial", Err: errClosed}
	}
	if c.conn != nil {
		conn, gen := c.conn, c.gen
		c.mu.Unlock()
		return conn, gen, nil
	}
	c.mu.Unlock()

	c.dialMu.Lock()
	defer c.dialMu.Unlock()
	c.mu.Lock()
	if c.conn != nil { // another goroutine dialled meanwhile
		conn, gen := c.conn, c.gen
		c.mu.Unlock()
		return conn, gen, nil
	}
	c.mu.Unlock()

	var err error
	var conn *ssh.Client
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.cfg.dialTimeout())
		conn, err = dialSSH(actx, c.addr, c.cfg)
		cancel()
		if err == nil || attempt >= c.cfg.dialRetries() || !retryable(err) || ctx.Err() != nil {
			break
		}
		c.lg.Debug("dial failed, retrying", "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(200<<attempt) * time.Millisecond):
		}
	}
	if err != nil {
		return nil, 0, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		conn.Close()
		return nil, 0, &TransportError{Host: c.addr, Op: "dial", Err: errClosed}
	}
	c.conn = conn
	c.gen++
	gen := c.gen
	hooks := c.hooks
	c.hooks = nil
	c.mu.Unlock()
	for _, h := range hooks {
		h()
	}
	c.lg.Debug("connected", "gen", gen)
	go c.watch(conn, gen)
	return conn, gen, nil
}

// retryable reports whether a dial error is worth another attempt:
// network failures are, authentication and host key failures are not.
func retryable(err error) bool {
	var te *TransportError
	if !errors.As(err, &te) {
		return false
	}
	if errors.Is(err, errClosed) {
		return false
	}
	if te.Op == "dial" {
		var ne net.Error
		var oe *net.OpError
		return errors.As(err, &ne) || errors.As(err, &oe)
	}
	// A handshake cut short: how sshd drops connections beyond its
	// MaxStartups.
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// broken forgets conn if it is still the current connection.
func (c *Client) broken(conn *ssh.Client, why error) {
	c.mu.Lock()
	if c.conn != conn {
		c.mu.Unlock()
		return
	}
	c.conn = nil
	hooks := c.hooks
	c.hooks = nil
	c.mu.Unlock()
	for _, h := range hooks {
		h()
	}
	conn.Close()
	c.dropSpare()
	c.lg.Debug("connection lost", "err", why)
}

// watch sends keepalives on conn and forgets it when it dies.
func (c *Client) watch(conn *ssh.Client, gen int) {
	dead := make(chan error, 1)
	go func() { dead <- conn.Wait() }()
	interval := c.cfg.keepAlive()
	if interval < 0 {
		c.broken(conn, <-dead)
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	missed := 0
	answered := make(chan struct{}, 1)
	answered <- struct{}{}
	for {
		select {
		case err := <-dead:
			c.broken(conn, err)
			return
		case <-tick.C:
			select {
			case <-answered:
				missed = 0
			default:
				missed++
				if missed >= c.cfg.keepAliveMax() {
					c.broken(conn, fmt.Errorf("%d keepalives unanswered", missed))
					<-dead
					return
				}
				continue
			}
			go func() {
				if _, _, err := conn.SendRequest("keepalive@openssh.com", true, nil); err == nil {
					answered <- struct{}{}
				}
			}()
		}
	}
}

// acquire takes a session slot, waiting for one if all are in use.
func (c *Client) acquire(ctx context.Context, control bool) (func(), error) {
	ch := c.slots
	if control {
		ch = c.control
	}
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// openSession opens a session channel, queueing when the server refuses
// for lack of sessions and dialling again when the connection is broken.
// Nothing has run yet, so every failure here may be retried.
func (c *Client) openSession(ctx context.Context) (ssh.Channel, <-chan *ssh.Request, *ssh.Client, error) {
	backoff := 20 * time.Millisecond
	redials := 0
	for {
		conn, _, err := c.connect(ctx)
		if err != nil {
			return nil, nil, nil, err
		}
		ch, reqs, err := conn.OpenChannel("session", nil)
		if err == nil {
			return ch, reqs, conn, nil
		}
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) {
			// The server has no session to spare (sshd's MaxSessions
			// across all clients on this connection): wait and retry.
			c.lg.Debug("session refused, waiting", "reason", oce.Message)
		} else {
			c.broken(conn, err)
			redials++
			if redials > c.cfg.dialRetries()+1 {
				return nil, nil, nil, &TransportError{Host: c.addr, Op: "session", Err: err}
			}
		}
		select {
		case <-ctx.Done():
			return nil, nil, nil, &TransportError{Host: c.addr, Op: "session", Err: ctx.Err()}
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (c *Client) start(ctx context.Context, script string, stdin io.Reader, stdout, stderr io.Writer, control bool) (proc, error) {
	if !control {
		if p := c.waitSpare(ctx); p != nil {
			p.claim(stdout, stderr)
			p.feed(script, stdin)
			c.refill()
			return p, nil
		}
	}
	release, err := c.acquire(ctx, control)
	if err != nil {
		return nil, &TransportError{Host: c.addr, Op: "session", Err: err}
	}
	p, execErr, err := c.launch(ctx, release)
	if err != nil {
		return nil, err
	}
	// The exec request and the script go out together; the reply is
	// checked without holding up the data.
	p.claim(stdout, stderr)
	p.feed(script, stdin)
	if err := <-execErr; err != nil {
		p.abort()
		return nil, &TransportError{Host: c.addr, Op: "session", Err: err}
	}
	if !control {
		c.refill()
	}
	return p, nil
}

// launch opens a session and starts the bootstrap in it, which then
// waits for its script. The session holds the slot release gives back.
func (c *Client) launch(ctx context.Context, release func()) (*sshProc, <-chan error, error) {
	ch, reqs, conn, err := c.openSession(ctx)
	if err != nil {
		release()
		return nil, nil, err
	}
	p := &sshProc{
		c: c, conn: conn, ch: ch, release: release,
		statusCh: make(chan struct{}),
		reqsDone: make(chan struct{}),
		out:      &switchWriter{},
		errOut:   &switchWriter{},
	}
	go p.handleRequests(reqs)
	execErr := make(chan error, 1)
	go func() {
		ok, err := ch.SendRequest("exec", true, ssh.Marshal(struct{ Cmd string }{bootstrap}))
		if err == nil && !ok {
			err = errors.New("server refused the exec request")
		}
		execErr <- err
	}()
	p.copies.Add(2)
	go p.copyOut(p.out, ch)
	go p.copyOut(p.errOut, ch.Stderr())
	return p, execErr, nil
}

// A spare session is started ahead of need: its bootstrap already runs
// and waits for a script. sshd opens a session's window for standard
// input only once the command has started, so a fresh session costs a
// round trip more than a spare one before the script can even be sent.

func (c *Client) spares() bool { return c.cfg.SpareSessions >= 0 }

// takeSpare returns the spare session if it is alive and on the current
// connection, or nil.
func (c *Client) takeSpare() *sshProc {
	c.mu.Lock()
	p := c.spare
	c.spare = nil
	current := c.conn
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-p.reqsDone:
		p.abort()
		return nil
	default:
	}
	if p.conn != current {
		p.abort()
		return nil
	}
	return p
}

// waitSpare returns the spare session; when one is being started and no
// other command waits for it, it waits for that, which is sooner than a
// new session would be ready.
func (c *Client) waitSpare(ctx context.Context) *sshProc {
	if p := c.takeSpare(); p != nil {
		return p
	}
	c.mu.Lock()
	done := c.refillDone
	if done == nil || c.spareWaiter {
		c.mu.Unlock()
		return nil
	}
	c.spareWaiter = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.spareWaiter = false
		c.mu.Unlock()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return nil
	}
	return c.takeSpare()
}

// refill starts a spare session in the background if there is none and a
// slot is free.
func (c *Client) refill() {
	if !c.spares() {
		return
	}
	c.mu.Lock()
	if c.spare != nil || c.refilling || c.closed || c.conn == nil {
		c.mu.Unlock()
		return
	}
	c.refilling = true
	done := make(chan struct{})
	c.refillDone = done
	c.mu.Unlock()
	go func() {
		defer func() {
			c.mu.Lock()
			c.refilling = false
			c.refillDone = nil
			c.mu.Unlock()
			close(done)
		}()
		select {
		case c.slots <- struct{}{}:
		default:
			return // every slot is busy: no spare now
		}
		release := func() { <-c.slots }
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.dialTimeout())
		defer cancel()
		p, execErr, err := c.launch(ctx, release)
		if err != nil {
			return
		}
		if err := <-execErr; err != nil {
			p.abort()
			return
		}
		c.mu.Lock()
		if c.spare == nil && !c.closed && c.conn == p.conn {
			c.spare = p
			p = nil
		}
		c.mu.Unlock()
		if p != nil {
			p.abort()
		}
	}()
}

// dropSpare closes the spare session, if any.
func (c *Client) dropSpare() {
	c.mu.Lock()
	p := c.spare
	c.spare = nil
	c.mu.Unlock()
	if p != nil {
		p.abort()
	}
}

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

// connDead reports whether conn has failed, by a quick keepalive.
func connDead(conn *ssh.Client) error {
	res := make(chan error, 1)
	go func() {
		_, _, err := conn.SendRequest("keepalive@openssh.com", true, nil)
		res <- err
	}()
	select {
	case err := <-res:
		return err
	case <-time.After(5 * time.Second):
		return errors.New("connection not answering")
	}
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
