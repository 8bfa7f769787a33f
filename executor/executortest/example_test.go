package executortest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/executor/executortest"
	"golang.org/x/crypto/ssh"
)

// A test starts a server whose handler stands in for the remote host, and
// dials it with a configuration that trusts only the server's host key.
func ExampleNewServer() {
	testDeploy := func(t *testing.T) {
		srv := executortest.NewServer(t, func(s *executortest.Session) int {
			if !strings.HasPrefix(s.Command, "docker ") {
				fmt.Fprintf(s.Stderr, "sh: %s: not found\n", s.Command)
				return 127
			}
			io.WriteString(s.Stdout, "Container web-1  Started\n")
			return 0
		})
		client, err := ssh.Dial("tcp", srv.Addr, srv.ClientConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		// ... or executor.Dial(ctx, srv.Addr, srv.Config()).
	}
	_ = testDeploy
}

// Outside tests, a server with a nil handler is a real remote host on
// loopback that runs commands on this machine.
func ExampleNewUnstartedServer() {
	srv := executortest.NewUnstartedServer(nil)
	srv.Start()
	defer srv.Close()

	client, err := ssh.Dial("tcp", srv.Addr, srv.ClientConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.Output("echo hello from $0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))
	// Output: hello from /bin/sh
}

// A custom Handler plays a host in a state that is hard to produce for
// real: here, one whose every command fails because its disk is full.
// The executor reports what the handler did as it would a real failure.
func ExampleHandler() {
	srv := executortest.NewUnstartedServer(func(s *executortest.Session) int {
		io.Copy(io.Discard, s.Stdin) // what the client sends: the script
		fmt.Fprintln(s.Stderr, "write error: No space left on device")
		return 1
	})
	srv.Start()
	defer srv.Close()

	ctx := context.Background()
	c, err := executor.Dial(ctx, srv.Addr, srv.Config())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	err = c.Command("cp", "release.tar", "/srv/").Run(ctx)
	var ee *executor.ExitError
	if errors.As(err, &ee) {
		fmt.Printf("exit status %d: %s", ee.Code, ee.Stderr)
	}
	// Output: exit status 1: write error: No space left on device
}
