package executor_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/sshdtest"
	"github.com/ferryhq/ferry/internal/testenv"
	"golang.org/x/crypto/ssh"
)

// lostConnTrials is how many times each way of losing the connection is
// tried; the README reports it.
const lostConnTrials = 3

// goneWithin reports how long it took until no process with marker in its
// command line was left, or fails the test after limit.
func goneWithin(t *testing.T, marker string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !processGone(t, marker) {
		if time.Since(start) > limit {
			t.Fatalf("processes with %q still running %v after the connection was lost", marker, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

func waitRunning(t *testing.T, marker string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for processGone(t, marker) {
		if time.Now().After(deadline) {
			t.Fatalf("processes with %q never started", marker)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// When the link to the host is cut while a Cmd and a pipeline step run,
// the host stops them by itself (the client cannot reach it any more):
// the processes are gone within 10 s.
func TestLostConnectionCutLinkStopsRemoteWork(t *testing.T) {
	api := testenv.Toxiproxy(t)
	s := sshdtest.Start(t, sshdtest.Options{})
	addr, proxy := testenv.NewProxy(t, api, s.Addr)
	c := dialVia(t, s, addr)
	for trial := 0; trial < lostConnTrials; trial++ {
		marker := fmt.Sprintf("ferrycut%d_%d", trial, time.Now().UnixNano())
		testenv.SetProxyEnabled(t, api, proxy, true)
		cmdErr := make(chan error, 1)
		go func() {
			cmdErr <- c.Command("sh", "-c", "trap '' TERM; sleep 300 # "+marker+"cmd").Run(context.Background())
		}()
		runErr := make(chan error, 1)
		go func() {
			_, err := c.Run(context.Background(), &executor.Pipeline{GracePeriod: time.Second, Steps: []executor.Step{
				{Name: "first", Args: []string{"true"}},
				{Name: "long", Args: []string{"sh", "-c", "sleep 300 # " + marker + "step"}},
			}})
			runErr <- err
		}()
		waitRunning(t, marker+"cmd")
		waitRunning(t, marker+"step")
		testenv.SetProxyEnabled(t, api, proxy, false)
		var te *executor.TransportError
		if err := <-cmdErr; !errors.As(err, &te) || !te.Started {
			t.Fatalf("trial %d: Cmd: %v", trial, err)
		}
		if err := <-runErr; !errors.As(err, &te) || !strings.Contains(err.Error(), `"long"`) {
			t.Fatalf("trial %d: pipeline: %v", trial, err)
		}
		d1 := goneWithin(t, marker+"cmd", 10*time.Second)
		d2 := goneWithin(t, marker+"step", 10*time.Second)
		t.Logf("trial %d: gone %v and %v after the cut", trial, d1.Round(100*time.Millisecond), d2.Round(100*time.Millisecond))
	}
}

func dialVia(t *testing.T, s *sshdtest.Server, addr string) *executor.Client {
	t.Helper()
	key, err := executor.PrivateKeyFile(s.KeyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := executor.Dial(context.Background(), addr, &executor.Config{
		User: s.User, Auth: []ssh.AuthMethod{key}, HostKeys: executor.FixedHostKey(s.HostKeys[0]),
		KeepAlive: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// When the client process is killed with SIGKILL while its commands run,
// the host stops them: the processes are gone within 10 s.
func TestLostConnectionClientKilledStopsRemoteWork(t *testing.T) {
	if os.Getenv("FERRY_LOSTCONN_HELPER") != "" {
		return // only the helper's own run (TestLostConnectionHelper) acts
	}
	s := sshdtest.Start(t, sshdtest.Options{})
	for trial := 0; trial < lostConnTrials; trial++ {
		for _, via := range []string{"sshd", "local"} {
			marker := fmt.Sprintf("ferrykilled%s%d_%d", via, trial, time.Now().UnixNano())
			cmd := exec.Command(os.Args[0], "-test.run=^TestLostConnectionHelper$", "-test.v")
			cmd.Env = append(os.Environ(), "FERRY_LOSTCONN_HELPER="+strings.Join([]string{via, s.Addr, s.User, s.KeyFile, s.KnownHosts, marker}, "\x1f"))
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitRunning(t, marker+"cmd")
			waitRunning(t, marker+"step")
			cmd.Process.Kill()
			cmd.Wait()
			go bufio.NewReader(out).WriteTo(discard{})
			d1 := goneWithin(t, marker+"cmd", 10*time.Second)
			d2 := goneWithin(t, marker+"step", 10*time.Second)
			t.Logf("trial %d via %s: gone %v and %v after SIGKILL", trial, via, d1.Round(100*time.Millisecond), d2.Round(100*time.Millisecond))
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestLostConnectionHelper is the client process that
// TestLostConnectionClientKilledStopsRemoteWork kills: it runs a Cmd and a
// pipeline that never end. It does nothing in a normal test run.
func TestLostConnectionHelper(t *testing.T) {
	env := os.Getenv("FERRY_LOSTCONN_HELPER")
	if env == "" {
		t.Skip("helper process only")
	}
	f := strings.Split(env, "\x1f")
	via, addr, user, keyFile, knownHosts, marker := f[0], f[1], f[2], f[3], f[4], f[5]
	var ex runner = &executor.Local{}
	if via == "sshd" {
		key, err := executor.PrivateKeyFile(keyFile, nil)
		if err != nil {
			t.Fatal(err)
		}
		hk, err := executor.KnownHosts(knownHosts)
		if err != nil {
			t.Fatal(err)
		}
		c, err := executor.Dial(context.Background(), addr, &executor.Config{User: user, Auth: []ssh.AuthMethod{key}, HostKeys: hk})
		if err != nil {
			t.Fatal(err)
		}
		ex = c
	}
	go ex.Command("sh", "-c", "trap '' TERM; sleep 300 # "+marker+"cmd").Run(context.Background())
	ex.Run(context.Background(), &executor.Pipeline{Steps: []executor.Step{{Args: []string{"sh", "-c", "sleep 300 # " + marker + "step"}}}})
}
