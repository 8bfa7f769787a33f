// Package executor runs commands and pipelines of commands on remote hosts
// over SSH, and on this machine, the way a deploy tool needs them run.
//
// A [Client] holds one SSH connection to a host, opened by [Dial]. A [Cmd]
// is modeled on [os/exec.Cmd]: set its fields, then call [Cmd.Run], or
// [Cmd.Start] and [Cmd.Wait]. A [Pipeline] is an ordered list of [Step]s
// with the options of Coolify's remote_process (hidden, ignore errors,
// save output, secrets, timeout), run by [Client.Run] and reported in a
// [Result]. [Local] runs the same commands and pipelines on this machine.
//
// # Connections
//
// One connection serves every command for a host; sessions on it are
// bounded by [Config.MaxSessions] and wait for a free slot rather than
// fail. Keepalives detect a dead peer, and a broken connection is dialled
// again on next use. Only failures before a command started are retried.
// One spare session waits, already started, for the next command, which
// saves the round trip sshd takes to open a new session's input (see
// [Config.SpareSessions]).
//
// # Pipelines
//
// Consecutive steps of a [Pipeline] travel together as one script on one
// session; markers framed by a random nonce tell each step's output,
// status and timing apart. A 20-step pipeline costs about one and a half
// round trips on a warm connection, where a session per step costs two or
// three each.
//
// # Host keys
//
// Host keys are always verified: [Config.HostKeys] is required. See
// [KnownHosts] (known_hosts files, hashed entries, @cert-authority) and
// [AcceptNewHostKeys]; [InsecureIgnoreHostKey] exists, plainly named.
//
// # Cancellation
//
// Every blocking call takes a [context.Context] first. When it is
// cancelled, or a step's Timeout passes, the remote process group is sent
// SIGTERM and, after a grace period, SIGKILL: cancelling stops the remote
// work, not only the local goroutine. On Linux hosts this includes the
// processes that left the process group and session, found by the mark
// every step's processes carry in their environment (FERRY_RUN). When
// the connection is lost, a watchdog on the host stops the run's
// processes the same way.
//
// # Secrets
//
// Values listed as secrets are replaced by "***" in every event, log
// record, error and result. Commands, environment and scripts travel to
// the host on the session's standard input, never on a command line, so
// they appear in no remote process's argv.
package executor
