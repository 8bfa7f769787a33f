package executor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
)

// normalizeAddr adds the default port 22 to addr when it has none.
func normalizeAddr(addr string) (string, error) {
	if addr == "" {
		return "", errors.New("empty address")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// No port: the whole thing is the host.
		if _, _, err2 := net.SplitHostPort(addr + ":22"); err2 != nil {
			return "", fmt.Errorf("malformed address %q: %v", addr, err)
		}
		return net.JoinHostPort(addr, "22"), nil
	}
	if host == "" {
		return "", fmt.Errorf("malformed address %q: missing host", addr)
	}
	if port == "" {
		return "", fmt.Errorf("malformed address %q: missing port", addr)
	}
	return addr, nil
}

// dialSSH connects to addr and completes the SSH handshake, both bounded
// by ctx.
func dialSSH(ctx context.Context, addr string, cfg *Config) (*ssh.Client, error) {
	if cfg.HostKeys == nil {
		return nil, &TransportError{Host: addr, Op: "dial", Err: errors.New("Config.HostKeys is required (see KnownHosts; InsecureIgnoreHostKey exists but must be chosen explicitly)")}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &TransportError{Host: addr, Op: "dial", Err: err}
	}
	return handshake(ctx, conn, addr, cfg.User, cfg.Auth, cfg.HostKeys)
}

// handshake runs the SSH handshake on conn, bounded by ctx. conn is
// closed on failure.
func handshake(ctx context.Context, conn net.Conn, addr, user string, auth []ssh.AuthMethod, hk HostKeyPolicy) (*ssh.Client, error) {
	cc := &ssh.ClientConfig{
		User:              user,
		Auth:              auth,
		HostKeyCallback:   hk.HostKeyCallback(),
		HostKeyAlgorithms: hk.HostKeyAlgorithms(addr),
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cc)
	if !stop() || ctx.Err() != nil {
		if err == nil {
			c.Close()
		}
		conn.Close()
		return nil, &TransportError{Host: addr, Op: "handshake", Err: ctx.Err()}
	}
	if err != nil {
		conn.Close()
		return nil, &TransportError{Host: addr, Op: "handshake", Err: err}
	}
	conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}
