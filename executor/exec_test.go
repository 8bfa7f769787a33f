package executor_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/sshdtest"
	"golang.org/x/crypto/ssh"
)

// dialSSHD starts a real OpenSSH sshd and dials it.
func dialSSHD(t testing.TB, opts sshdtest.Options) (*executor.Client, *sshdtest.Server) {
	t.Helper()
	s := sshdtest.Start(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := executor.Dial(ctx, s.Addr, &executor.Config{
		User:     s.User,
		Auth:     []ssh.AuthMethod{ssh.PublicKeys(s.Signer)},
		HostKeys: executor.FixedHostKey(s.HostKeys[0]),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, s
}

func TestCmdOutput(t *testing.T) {
	c, _ := dialSSHD(t, sshdtest.Options{})
	ctx := context.Background()
	out, err := c.Command("echo", "hello", "world").Output(ctx)
	if err != nil || string(out) != "hello world\n" {
		t.Fatalf("got %q, %v", out, err)
	}
}

func TestCmdArgvUnchanged(t *testing.T) {
	c, _ := dialSSHD(t, sshdtest.Options{})
	args := []string{"", " ", "it's", `"q"`, `\`, "$HOME", "$(id)", "`id`", "a\nb", "*", "~", "-n", "\xff\xfe", "é", ";", "|", "&&", "#", "!", "\t"}
	out, err := c.Command(append([]string{"printf", `%s\0`}, args...)...).Output(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(string(out), "\x00")
	got = got[:len(got)-1]
	if len(got) != len(args) {
		t.Fatalf("got %q", got)
	}
	for i := range args {
		if got[i] != args[i] {
			t.Errorf("arg %d: got %q, want %q", i, got[i], args[i])
		}
	}
}

func TestCmdExitCodeAndSignal(t *testing.T) {
	c, _ := dialSSHD(t, sshdtest.Options{})
	ctx := context.Background()
	err := c.Command("sh", "-c", "echo oops >&2; exit 3").Run(ctx)
	var ee *executor.ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || ee.Signal != "" || !strings.Contains(string(ee.Stderr), "oops") {
		t.Fatalf("got %#v (%v)", ee, err)
	}
	if executor.IsTransport(err) {
		t.Fatal("exit error reported as transport error")
	}
	err = c.Command("sh", "-c", "kill -KILL $$").Run(ctx)
	if !errors.As(err, &ee) || ee.Signal != "KILL" || ee.ExitCode() != 137 {
		t.Fatalf("got %#v (%v)", ee, err)
	}
}

func TestCmdStdinEnvDir(t *testing.T) {
	c, _ := dialSSHD(t, sshdtest.Options{})
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	cmd := c.Command("sh", "-c", `printf '%s|%s|' "$FOO" "$(pwd)"; wc -c`)
	cmd.Stdin = bytes.NewReader(big)
	cmd.Env = []string{"FOO=bar baz $HOME"}
	cmd.Dir = "/tmp"
	out, err := cmd.Output(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "bar baz $HOME|/tmp|1048576" {
		t.Fatalf("got %q", got)
	}
}

// Commands and pipelines run with a context that never ends leave no
// goroutine behind.
func TestCmdNoGoroutineLeak(t *testing.T) {
	c, _ := dialSSHD(t, sshdtest.Options{})
	ctx := context.Background()
	c.Command("true").Run(ctx) // warm up: connection goroutines, spare session
	time.Sleep(200 * time.Millisecond)
	before := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		if err := c.Command("true").Run(ctx); err != nil {
			t.Fatal(err)
		}
		p := &executor.Pipeline{Steps: []executor.Step{{Args: []string{"true"}, Timeout: time.Minute}, {Script: "echo x"}}}
		if _, err := c.Run(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Fatalf("%d goroutines before, %d after 20 commands and pipelines", before, after)
	}
}

// Stderr that ends like the start of a marker reaches the caller whole.
func TestCmdStderrTailKept(t *testing.T) {
	c, _ := dialSSHD(t, sshdtest.Options{})
	var errb bytes.Buffer
	cmd := c.Command("sh", "-c", `printf 'warn\036FER' >&2`)
	cmd.Stderr = &errb
	if err := cmd.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := errb.String(); got != "warn\x1eFER" {
		t.Fatalf("stderr %q", got)
	}
}
