package executortest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/executor"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// DefaultMaxSessions is the number of sessions a connection may have open
// at once when [Server.MaxSessions] is zero. It is OpenSSH's default.
const DefaultMaxSessions = 10

// handshakeTimeout bounds an incoming connection's SSH handshake.
const handshakeTimeout = 30 * time.Second

// Server is an SSH server listening on a loopback address. User,
// ClientSigner, Password, MaxSessions, Dir and Handler may be changed
// between [NewUnstartedServer] and [Server.Start], and must not be
// changed afterwards; Addr and HostKey are set by the server. A Server
// cannot be restarted after Close.
type Server struct {
	// Addr is the server's address, "127.0.0.1:port". It is set by Start.
	Addr string

	// HostKey is the public half of the server's host key, an ed25519 key
	// generated for this server.
	HostKey ssh.PublicKey

	// User is the only user allowed to log in. It defaults to the name of
	// the current local user, since commands run as that user.
	User string

	// ClientSigner is the client key the server accepts for User. It
	// defaults to an ed25519 key generated for this server; see also
	// [Server.ClientKeyPEM].
	ClientSigner ssh.Signer

	// Password, if not empty, is also accepted for User by password
	// authentication. Empty means password authentication is not offered.
	Password string

	// MaxSessions bounds the sessions (channels) open at once on one
	// connection, like sshd's MaxSessions. Zero means
	// [DefaultMaxSessions]. A channel opened beyond it is refused the way
	// sshd refuses it: reason [ssh.ConnectionFailed], message
	// "open failed". A session keeps its slot until its command exits.
	MaxSessions int

	// Dir is the working directory of commands run by [Exec] and the
	// directory that relative SFTP paths are resolved against. Empty
	// means the current user's home directory, as with sshd. Absolute
	// SFTP paths are not confined to Dir.
	Dir string

	// Handler serves exec and shell requests. Nil means [Exec]: commands
	// run for real on this machine.
	Handler Handler

	hostSigner ssh.Signer
	clientKey  ed25519.PrivateKey

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the server started

	mu       sync.Mutex
	ln       net.Listener
	started  bool
	closed   bool
	dir      string
	conns    map[net.Conn]struct{}
	pgids    map[int]struct{} // process groups of running commands
	nconns   int
	sessions int
	active   int
	peak     int
}

// NewServer starts and returns a new server that serves requests with h
// (nil means [Exec]). It is closed by tb.Cleanup; the test may also call
// [Server.Close] earlier.
func NewServer(tb testing.TB, h Handler) *Server {
	tb.Helper()
	s := NewUnstartedServer(h)
	s.Start()
	tb.Cleanup(s.Close)
	return s
}

// NewUnstartedServer returns a new server that is not started, with its
// keys generated and its fields set to their defaults. The caller may
// change its fields, then must call [Server.Start], and should call
// [Server.Close] when finished. It panics if a key cannot be generated.
func NewUnstartedServer(h Handler) *Server {
	_, hostSigner := newKey("host")
	clientPriv, clientSigner := newKey("client")
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		HostKey:      hostSigner.PublicKey(),
		User:         currentUser(),
		ClientSigner: clientSigner,
		Handler:      h,
		hostSigner:   hostSigner,
		clientKey:    clientPriv,
		ctx:          ctx,
		cancel:       cancel,
		conns:        make(map[net.Conn]struct{}),
		pgids:        make(map[int]struct{}),
	}
}

// newKey generates an ed25519 key and its signer; it panics, naming
// the key's use ("host", "client"), if it cannot.
func newKey(use string) (ed25519.PrivateKey, ssh.Signer) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic("executortest: generating " + use + " key: " + err.Error())
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		panic("executortest: " + err.Error())
	}
	return priv, signer
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "ferry"
}

// Start starts the server listening on 127.0.0.1 on a free port and sets
// Addr. It panics if the server was already started or closed, or if it
// cannot listen.
func (s *Server) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		panic("executortest: Server already started or closed")
	}
	dir := s.Dir
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir = home
		} else {
			dir = "/"
		}
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("executortest: failed to listen on a port: " + err.Error())
	}
	s.started = true
	s.dir = dir
	s.ln = ln
	s.Addr = ln.Addr().String()
	cfg := s.serverConfig()
	s.wg.Go(func() { s.acceptLoop(ln, cfg) })
}

func (s *Server) serverConfig() *ssh.ServerConfig {
	user := s.User
	clientKey := s.ClientSigner.PublicKey().Marshal()
	cfg := &ssh.ServerConfig{
		ServerVersion: "SSH-2.0-ferry_executortest",
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if meta.User() == user && bytes.Equal(key.Marshal(), clientKey) {
				return nil, nil
			}
			return nil, fmt.Errorf("executortest: public key not accepted for %q", meta.User())
		},
	}
	if pw := s.Password; pw != "" {
		cfg.PasswordCallback = func(meta ssh.ConnMetadata, p []byte) (*ssh.Permissions, error) {
			if meta.User() == user && subtle.ConstantTimeCompare(p, []byte(pw)) == 1 {
				return nil, nil
			}
			return nil, fmt.Errorf("executortest: password not accepted for %q", meta.User())
		}
	}
	cfg.AddHostKey(s.hostSigner)
	return cfg
}

// Close shuts the server down: it stops listening, closes every
// connection, kills the process groups of running commands with SIGKILL,
// cancels the contexts of handlers, and waits for all of the server's
// goroutines to finish, so a handler that ignores [Session.Context] makes
// Close block. Close may be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return
	}
	s.closed = true
	ln := s.ln
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	pgids := make([]int, 0, len(s.pgids))
	for pg := range s.pgids {
		pgids = append(pgids, pg)
	}
	s.mu.Unlock()

	if ln != nil {
		ln.Close()
	}
	s.cancel()
	for _, c := range conns {
		c.Close()
	}
	for _, pg := range pgids {
		killGroup(pg)
	}
	s.wg.Wait()
}

// CloseConnections closes every open connection, as a network failure or
// a restarted sshd would, without stopping the server: clients can dial
// again. Commands already running keep running until they exit, as they
// do under sshd, or until [Server.Close].
func (s *Server) CloseConnections() {
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Conns reports how many TCP connections the server has accepted,
// including any whose handshake failed.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nconns
}

// Sessions reports how many session channels the server has accepted, on
// all connections. Refused channel opens are not counted.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// MaxConcurrent reports the largest number of sessions that were open at
// the same time, counting all connections together.
func (s *Server) MaxConcurrent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// ClientConfig returns a new client configuration for
// golang.org/x/crypto/ssh that logs in as User with ClientSigner and
// accepts only HostKey.
func (s *Server) ClientConfig() *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:              s.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(s.ClientSigner)},
		HostKeyCallback:   ssh.FixedHostKey(s.HostKey),
		HostKeyAlgorithms: []string{s.HostKey.Type()},
	}
}

// Config returns a new [executor.Config] that logs in as User with
// ClientSigner and verifies the host key with [executor.FixedHostKey].
// Other fields are left at their defaults for the caller to set.
func (s *Server) Config() *executor.Config {
	return &executor.Config{
		User:     s.User,
		Auth:     []ssh.AuthMethod{ssh.PublicKeys(s.ClientSigner)},
		HostKeys: executor.FixedHostKey(s.HostKey),
	}
}

// KnownHostsLine returns a known_hosts line, without a trailing newline,
// for the server's address and host key. It is meaningful only after
// Start.
func (s *Server) KnownHostsLine() string {
	return knownhosts.Line([]string{s.Addr}, s.HostKey)
}

// KnownHostsFile writes a known_hosts file holding [Server.KnownHostsLine]
// to a directory from tb.TempDir and returns its path. It calls
// tb.Fatal if the file cannot be written.
func (s *Server) KnownHostsFile(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(s.KnownHostsLine()+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// ClientKeyPEM returns the generated client private key in OpenSSH's
// PEM format, unencrypted, for tests that read keys from files. It
// returns nil if ClientSigner was replaced.
func (s *Server) ClientKeyPEM() []byte {
	if !bytes.Equal(s.ClientSigner.PublicKey().Marshal(), mustSigner(s.clientKey).PublicKey().Marshal()) {
		return nil
	}
	block, err := ssh.MarshalPrivateKey(s.clientKey, "")
	if err != nil {
		return nil
	}
	return pem.EncodeToMemory(block)
}

func mustSigner(k ed25519.PrivateKey) ssh.Signer {
	sg, err := ssh.NewSignerFromKey(k)
	if err != nil {
		panic("executortest: " + err.Error())
	}
	return sg
}

func (s *Server) acceptLoop(ln net.Listener, cfg *ssh.ServerConfig) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.nconns++
		s.mu.Unlock()
		s.wg.Go(func() { s.serveConn(c, cfg) })
	}
}

func (s *Server) serveConn(c net.Conn, cfg *ssh.ServerConfig) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	sconn, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	s.wg.Go(func() { ssh.DiscardRequests(reqs) })

	limit := s.MaxSessions
	if limit <= 0 {
		limit = DefaultMaxSessions
	}
	open := 0 // sessions open on this connection, guarded by s.mu
	for nc := range chans {
		if nc.ChannelType() == "direct-tcpip" {
			s.wg.Go(func() { s.forward(nc) })
			continue
		}
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "unknown channel type")
			continue
		}
		s.mu.Lock()
		if open >= limit {
			s.mu.Unlock()
			// What sshd answers when session_open fails ("no more sessions").
			nc.Reject(ssh.ConnectionFailed, "open failed")
			continue
		}
		open++
		s.sessions++
		s.active++
		s.peak = max(s.peak, s.active)
		s.mu.Unlock()
		release := func() {
			s.mu.Lock()
			open--
			s.active--
			s.mu.Unlock()
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			release()
			continue
		}
		s.wg.Go(func() {
			defer release()
			s.serveSession(sconn.User(), ch, creqs)
		})
	}
}

// forward serves a direct-tcpip channel (what ssh -J and a jump host in
// [executor.Config.Jump] open): it dials the requested address from
// this machine and relays bytes both ways until either side closes, or
// the server does.
func (s *Server) forward(nc ssh.NewChannel) {
	var m struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &m); err != nil {
		nc.Reject(ssh.Prohibited, "malformed direct-tcpip request")
		return
	}
	d := net.Dialer{Timeout: handshakeTimeout}
	target, err := d.DialContext(s.ctx, "tcp", net.JoinHostPort(m.Host, strconv.Itoa(int(m.Port))))
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		target.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	stop := context.AfterFunc(s.ctx, func() { target.Close() })
	defer stop()
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			ch.Close()
			target.Close()
		})
	}
	var wg sync.WaitGroup
	wg.Go(func() { io.Copy(target, ch); closeBoth() })
	wg.Go(func() { io.Copy(ch, target); closeBoth() })
	wg.Wait()
}
