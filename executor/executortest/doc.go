// Package executortest provides an in-process SSH server on loopback for
// tests, shaped like [net/http/httptest].
//
// [NewServer] starts a server that a test can dial with [Server.Config]
// (for [executor.Dial]) or [Server.ClientConfig] (for a raw
// golang.org/x/crypto/ssh client); it is closed by the test's cleanup.
// [NewUnstartedServer], [Server.Start] and [Server.Close] serve programs
// that are not tests, such as ferry's quickstart example, which uses the
// server as a zero-setup remote host.
//
// # Commands
//
// With a nil [Handler] the server runs commands for real on this machine,
// as sshd does: /bin/sh -c <command>, in a session of its own, with the
// environment from env requests; the exit status or the name of the
// killing signal is sent back, and signal requests go to the command's
// process group (see [Exec]). A Handler replaces that with Go code that
// sees the command, its input and its environment, writes output as it
// likes and chooses the exit status (see [Session]). The SFTP subsystem
// is served by github.com/pkg/sftp on the real filesystem, and
// direct-tcpip channels (a server used as a jump host) are forwarded
// from this machine.
//
// # Faithfulness
//
// The server mimics OpenSSH where ferry depends on it: at most
// [Server.MaxSessions] sessions per connection (10 by default), with
// further channel opens refused as sshd refuses them; a session's slot is
// held until its command exits; a command whose channel or connection
// goes away keeps running, as it does under sshd without a terminal;
// pty-req is refused. It is still not OpenSSH. ferry's own tests of
// features that depend on sshd's behaviour (keepalives, MaxStartups,
// rekeying, certificates, sudo) run against a real sshd; this server is
// for fast unit tests and for ferry's users' tests.
//
// # Importing
//
// The package imports [executor], as httptest imports net/http, so the
// executor package's own tests can use it only from the external test
// package executor_test.
package executortest
