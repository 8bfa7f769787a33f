// Command sshrun runs one command on a remote host over SSH, the way
// ferry's executor runs every step: argv arrives exactly as given, output
// streams as it comes, and the exit status is the remote command's.
//
// Usage:
//
//	sshrun [-i key] [-known-hosts file] [-p port] [-timeout dur] [-n] user@host -- argv...
//
// The exit status is the remote command's; 128+N when it died of signal
// N; 255 when sshrun could not connect, authenticate or verify the host
// key (with a message saying which).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/executor"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sshrun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("i", "", "private key file (default: ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
	knownHosts := fs.String("known-hosts", "", "known_hosts file (default ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts)")
	port := fs.Int("p", 22, "port")
	timeout := fs.Duration("timeout", 0, "bound the whole run, connecting included (0: none)")
	noStdin := fs.Bool("n", false, "do not forward standard input")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sshrun [-i key] [-known-hosts file] [-p port] [-timeout dur] [-n] user@host -- argv...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 255
	}
	rest := fs.Args()
	if len(rest) < 2 {
		fs.Usage()
		return 255
	}
	target, argv := rest[0], rest[1:]
	if argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		fmt.Fprintln(stderr, "sshrun: no command given after --")
		return 255
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "sshrun: "+format+"\n", a...)
		return 255
	}

	login, host, ok := strings.Cut(target, "@")
	if !ok {
		host, login = target, ""
	}
	if login == "" {
		if u, err := user.Current(); err == nil {
			login = u.Username
		}
	}
	auth, err := executor.DefaultAuth(*key)
	if err != nil {
		return fail("%v", err)
	}
	var khFiles []string // none: ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts
	if *knownHosts != "" {
		khFiles = append(khFiles, *knownHosts)
	}
	hk, err := executor.KnownHosts(khFiles...)
	if err != nil {
		return fail("%v", err)
	}

	ctx := context.Background()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	addr := host
	if !strings.HasPrefix(host, "[") && strings.Count(host, ":") > 1 {
		addr = "[" + host + "]" // a bare IPv6 address
	}
	addr += ":" + strconv.Itoa(*port)
	c, err := executor.Dial(ctx, addr, &executor.Config{User: login, Auth: auth, HostKeys: hk})
	if err != nil {
		return fail("%v", err)
	}
	defer c.Close()

	cmd := c.Command(argv...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if !*noStdin {
		cmd.Stdin = stdin
	}
	cmd.WaitDelay = time.Second
	err = cmd.Run(ctx)
	var ee *executor.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	case errors.Is(err, context.DeadlineExceeded):
		return fail("timed out after %v; the remote command was stopped", *timeout)
	default:
		return fail("%v", err)
	}
}
