package executor

import (
	"context"
	"errors"
	"io"
	"time"

	"golang.org/x/crypto/ssh"
)

// Session slots and the spare session of a [Client].

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
