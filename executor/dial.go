package executor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// normalizeAddr checks addr and adds the default port 22 when it has
// none. It accepts "host", "host:port", "[v6]" and "[v6]:port", and
// refuses anything with a user part, spaces, control characters, an empty
// host or a port that is not a number from 1 to 65535.
func normalizeAddr(addr string) (string, error) {
	if addr == "" {
		return "", errors.New("empty address")
	}
	if strings.ContainsAny(addr, " \t\r\n\x00/@") || strings.IndexFunc(addr, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return "", fmt.Errorf("malformed address %q: contains characters not allowed in a host name", addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// No port: the whole thing is the host ("[v6]" loses its brackets).
		h := addr
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			h = h[1 : len(h)-1]
		}
		if h == "" || strings.ContainsAny(h, "[]") || (strings.Contains(h, ":") && net.ParseIP(h) == nil) {
			return "", fmt.Errorf("malformed address %q: %v", addr, err)
		}
		return net.JoinHostPort(h, "22"), nil
	}
	if host == "" {
		return "", fmt.Errorf("malformed address %q: missing host", addr)
	}
	if strings.ContainsAny(host, "[]") {
		return "", fmt.Errorf("malformed address %q", addr)
	}
	if port == "" {
		return "", fmt.Errorf("malformed address %q: missing port", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("malformed address %q: port %q is not a number from 1 to 65535", addr, port)
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

// dialSSH connects to addr, through cfg.Jump when set, and completes the
// SSH handshake of every hop and of the target, all bounded by ctx.
// Closing the returned client closes the jump hosts' connections too.
// Errors are *TransportError with Host addr; a failure at a jump host
// says which one.
func dialSSH(ctx context.Context, addr string, cfg *Config) (*ssh.Client, error) {
	if cfg.HostKeys == nil {
		return nil, &TransportError{Host: addr, Op: "dial", Err: errors.New("Config.HostKeys is required (see KnownHosts; InsecureIgnoreHostKey exists but must be chosen explicitly)")}
	}
	target, err := normalizeAddr(addr)
	if err != nil {
		return nil, &TransportError{Host: addr, Op: "dial", Err: err}
	}
	var (
		hops []*ssh.Client // clients of the jump hosts so far
		prev *ssh.Client
	)
	closeHops := func() {
		for i := len(hops) - 1; i >= 0; i-- {
			hops[i].Close()
		}
	}
	for i, h := range cfg.Jump {
		hopAddr, err := normalizeAddr(h.Addr)
		if err != nil {
			closeHops()
			return nil, &TransportError{Host: target, Op: "dial", Err: fmt.Errorf("jump host %d: %w", i+1, err)}
		}
		user, auth, hk := h.User, h.Auth, h.HostKeys
		if user == "" {
			user = cfg.User
		}
		if auth == nil {
			auth = cfg.Auth
		}
		if hk == nil {
			hk = cfg.HostKeys
		}
		via := prev
		redial := func() (net.Conn, error) { return dialConn(ctx, via, hopAddr) }
		conn, err := redial()
		if err == nil {
			prev, err = handshake(ctx, conn, redial, hopAddr, user, auth, hk)
		}
		if err != nil {
			closeHops()
			return nil, jumpError(target, hopAddr, err)
		}
		hops = append(hops, prev)
	}
	redial := func() (net.Conn, error) { return dialConn(ctx, prev, target) }
	conn, err := redial()
	if err != nil {
		closeHops()
		if prev != nil {
			return nil, &TransportError{Host: target, Op: "dial", Err: fmt.Errorf("through jump host %s: %w", cfg.Jump[len(cfg.Jump)-1].Addr, err)}
		}
		return nil, err
	}
	if len(hops) > 0 {
		conn = &hopConn{Conn: conn, hops: hops}
	}
	c, err := handshake(ctx, conn, redial, target, cfg.User, cfg.Auth, cfg.HostKeys)
	if err != nil {
		closeHops() // conn.Close already did, but be sure.
		return nil, err
	}
	return c, nil
}

// dialConn opens a TCP connection to addr, directly when via is nil or
// as a direct-tcpip channel of via.
func dialConn(ctx context.Context, via *ssh.Client, addr string) (net.Conn, error) {
	if via == nil {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, &TransportError{Host: addr, Op: "dial", Err: err}
		}
		return c, nil
	}
	c, err := via.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// jumpError reports a failure at jump host hop on the way to target.
func jumpError(target, hop string, err error) error {
	var te *TransportError
	if errors.As(err, &te) {
		return &TransportError{Host: target, Op: "dial", Err: fmt.Errorf("jump host %s: %s: %w", hop, te.Op, te.Err)}
	}
	return &TransportError{Host: target, Op: "dial", Err: fmt.Errorf("jump host %s: %w", hop, err)}
}

// hopConn is the target's connection through jump hosts: closing it closes
// the jump hosts' connections, last first.
type hopConn struct {
	net.Conn
	hops []*ssh.Client
}

func (c *hopConn) Close() error {
	err := c.Conn.Close()
	for i := len(c.hops) - 1; i >= 0; i-- {
		c.hops[i].Close()
	}
	return err
}

// handshake runs the SSH handshake on conn, bounded by ctx. conn is
// closed on failure. redial opens another connection to addr, to read
// the host key of a server that offers none of the algorithms hk asks
// for (see changedKeyType).
func handshake(ctx context.Context, conn net.Conn, redial func() (net.Conn, error), addr, user string, auth []ssh.AuthMethod, hk HostKeyPolicy) (*ssh.Client, error) {
	cc := &ssh.ClientConfig{
		User:              user,
		Auth:              auth,
		HostKeyCallback:   hk.HostKeyCallback(),
		HostKeyAlgorithms: hk.HostKeyAlgorithms(addr),
	}
	// ctx's deadline and cancellation both end the handshake by closing
	// conn, which also unblocks a handshake over a jump host's channel
	// (channels have no deadlines).
	stop := context.AfterFunc(ctx, func() {
		conn.SetDeadline(time.Unix(1, 0))
		conn.Close()
	})
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cc)
	if !stop() || ctx.Err() != nil {
		if err == nil {
			c.Close()
		}
		conn.Close()
		return nil, &TransportError{Host: addr, Op: "handshake", Err: ctxErr(ctx, err)}
	}
	if err != nil {
		conn.Close()
		if he := changedKeyType(ctx, err, redial, addr, hk); he != nil {
			err = he
		}
		return nil, &TransportError{Host: addr, Op: "handshake", Err: handshakeError(user, err)}
	}
	conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// ctxErr reports a handshake stopped by ctx, saying how far it had got.
func ctxErr(ctx context.Context, err error) error {
	if err != nil && (errors.Is(err, net.ErrClosed) || isTimeout(err) || strings.Contains(err.Error(), "EOF")) {
		return fmt.Errorf("no SSH handshake before %w (does the port speak SSH?)", context.Cause(ctx))
	}
	if err != nil {
		return fmt.Errorf("%w (%v)", context.Cause(ctx), err)
	}
	return context.Cause(ctx)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// handshakeError keeps x/crypto's error (and with it *HostKeyError and
// knownhosts errors) but makes refused authentication plain.
func handshakeError(user string, err error) error {
	var he *HostKeyError
	if errors.As(err, &he) {
		return he // not "ssh: handshake failed: ..."
	}
	if strings.Contains(err.Error(), "unable to authenticate") {
		return fmt.Errorf("authentication refused for user %q: %w", user, err)
	}
	return err
}
