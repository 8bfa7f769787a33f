package executor

import (
	"context"
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
