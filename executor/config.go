package executor

import (
	"log/slog"
	"time"

	"golang.org/x/crypto/ssh"
)

// Config configures a [Client]. A Config may be shared by many clients
// (one per host), but must not be modified after it has been passed to
// [Dial].
type Config struct {
	// User is the login user. Empty means the current local user.
	User string

	// Auth lists the authentication methods to try, in order. See
	// [PrivateKeyFile], [PrivateKey], [Agent] and [Password].
	Auth []ssh.AuthMethod

	// HostKeys verifies the server's host key and chooses the host key
	// algorithms to ask for. It is required: Dial fails when it is nil.
	// See [KnownHosts], [AcceptNewHostKeys], [FixedHostKey] and the
	// explicitly named [InsecureIgnoreHostKey].
	HostKeys HostKeyPolicy

	// Jump lists jump hosts to go through, first to last, like OpenSSH's
	// ProxyJump a,b. Each hop's host key is verified with its own policy.
	// Empty means the target is dialled directly.
	Jump []Hop

	// DialTimeout bounds each attempt to connect and complete the
	// handshake, including redials made on behalf of a command whose
	// context has no deadline. Zero means 30s.
	DialTimeout time.Duration

	// KeepAlive is the interval between keepalive requests on an idle or
	// busy connection. Zero means 15s; a negative value disables them.
	KeepAlive time.Duration

	// KeepAliveMax is the number of keepalives in a row that may go
	// unanswered before the connection is declared dead and closed.
	// Zero means 3.
	KeepAliveMax int

	// MaxSessions bounds the sessions (channels) open at once on the
	// connection. Commands beyond it wait for a free slot instead of
	// failing. Zero means 8, below OpenSSH's default MaxSessions of 10;
	// one further session is kept in reserve for stopping commands. The
	// SFTP session (see [Client.WriteFile]) and the spare session (see
	// SpareSessions) each take a slot while open.
	MaxSessions int

	// SpareSessions says whether to keep one session started ahead of
	// need, its bootstrap waiting for a script, so that the next command
	// or pipeline saves the round trip sshd takes to open a new session's
	// input (about a third of a short pipeline's time on a distant host).
	// It costs one idle session slot and one idle shell on the host.
	// Zero means one spare; a negative value means none. Only these two
	// cases exist: it is an int, not a bool, so that the zero value
	// keeps the default (one spare) on.
	SpareSessions int

	// DialRetries is how many times a failure to connect, or to open a
	// session before the command started, is retried. Commands that
	// started are never retried. Zero means 2; a negative value disables
	// retries.
	DialRetries int

	// SudoPassword is given to sudo for steps and commands run as
	// another user. It reaches sudo through an askpass helper that reads
	// it from the environment of a shell fed on standard input: never
	// through argv, a file, or a log. Empty means sudo -n (no password).
	SudoPassword string

	// Logger receives debug records for connections and steps, with
	// secrets redacted. Nil discards them.
	Logger *slog.Logger
}

// Hop is one jump host on the way to the target.
type Hop struct {
	// Addr is "host:port"; a missing port means 22.
	Addr string
	// User, Auth and HostKeys default to the target's when empty.
	User     string
	Auth     []ssh.AuthMethod
	HostKeys HostKeyPolicy
}

// HostKeyPolicy verifies host keys. It also says which host key
// algorithms to ask the server for, so that a host known by an ed25519
// key is not reported as changed because the server offered RSA first
// (golang/go#36126).
type HostKeyPolicy interface {
	// HostKeyCallback returns the callback used during the handshake.
	HostKeyCallback() ssh.HostKeyCallback
	// HostKeyAlgorithms returns the algorithms to offer for addr
	// ("host:port"), or nil to use x/crypto's defaults.
	HostKeyAlgorithms(addr string) []string
}

const (
	defaultKeepAlive    = 15 * time.Second
	defaultKeepAliveMax = 3
	defaultMaxSessions  = 8
	defaultDialRetries  = 2
)

func (c *Config) keepAlive() time.Duration {
	if c.KeepAlive == 0 {
		return defaultKeepAlive
	}
	return c.KeepAlive
}

func (c *Config) dialTimeout() time.Duration {
	if c.DialTimeout <= 0 {
		return 30 * time.Second
	}
	return c.DialTimeout
}

func (c *Config) keepAliveMax() int {
	if c.KeepAliveMax <= 0 {
		return defaultKeepAliveMax
	}
	return c.KeepAliveMax
}

func (c *Config) maxSessions() int {
	if c.MaxSessions <= 0 {
		return defaultMaxSessions
	}
	return c.MaxSessions
}

func (c *Config) dialRetries() int {
	switch {
	case c.DialRetries < 0:
		return 0
	case c.DialRetries == 0:
		return defaultDialRetries
	}
	return c.DialRetries
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}
