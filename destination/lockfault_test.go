package destination_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/sshdtest"
	"github.com/ferryhq/ferry/internal/testenv"
)

// link is a connection to a real sshd through a Toxiproxy proxy, which a
// test can cut and restore, slow down or throttle.
type link struct {
	t     *testing.T
	api   string
	proxy string
	ex    *executor.Client
}

// dialProxied starts sshd and dials it through a new Toxiproxy proxy.
// retries is the client's Config.DialRetries.
func dialProxied(t *testing.T, retries int) *link {
	t.Helper()
	api := testenv.Toxiproxy(t)
	s := sshdtest.Start(t, sshdtest.Options{})
	addr, name := testenv.NewProxy(t, api, s.Addr)
	cfg := &executor.Config{
		User:        s.User,
		Auth:        []ssh.AuthMethod{ssh.PublicKeys(s.Signer)},
		HostKeys:    executor.FixedHostKey(s.HostKeys[0]),
		DialRetries: retries,
		DialTimeout: 5 * time.Second,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := executor.Dial(ctx, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &link{t: t, api: api, proxy: name, ex: c}
}

// cut closes the link's connections and refuses new ones.
func (l *link) cut() { testenv.SetProxyEnabled(l.t, l.api, l.proxy, false) }

// restore lets connections through again.
func (l *link) restore() { testenv.SetProxyEnabled(l.t, l.api, l.proxy, true) }

// slow gives the link a 50 ms round trip and 1 MB/s each way.
func (l *link) slow() {
	testenv.AddLatency(l.t, l.api, l.proxy, 25)
	for _, stream := range []string{"upstream", "downstream"} {
		testenv.AddToxic(l.t, l.api, l.proxy, "bandwidth_"+stream, "bandwidth", stream, map[string]any{"rate": 1024})
	}
}

// shellPlan is a plan of plain shell steps: enough to exercise the lock
// and the history on a real host without Docker or Kubernetes.
func shellPlan(dir, apply string) *destination.Plan {
	return &destination.Plan{
		Target: "shell", App: "app", Dir: dir, Version: "v1", Timeout: 10 * time.Second,
		Check:  &executor.Pipeline{Name: "check", Dir: dir, Steps: []executor.Step{{Name: "true", Args: []string{"true"}}}},
		Apply:  &executor.Pipeline{Name: "apply", Dir: dir, Steps: []executor.Step{{Name: "apply", Script: apply}}},
		Verify: &executor.Pipeline{Name: "verify", Dir: dir, Steps: []executor.Step{{Name: "true", Args: []string{"true"}}}},
	}
}

// slowTail puts a tail that sleeps first on the PATH of the pipelines ex
// runs: the lock pipeline's "read history" step then runs while the lock
// is held, long enough to cut the link.
func slowTail(t *testing.T, ex executor.Executor) executor.Executor {
	t.Helper()
	bin := t.TempDir()
	script := "#!/bin/sh\nsleep 3\nexec " + mustLookPath(t, "tail") + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "tail"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return withEnv{ex, []string{"PATH=" + bin + ":" + os.Getenv("PATH")}}
}

// cutWhenLocked cuts the link as soon as the lock directory exists on the
// host, and restores it after down.
func cutWhenLocked(t *testing.T, l *link, lockDir string, down time.Duration) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 1000; i++ {
			if _, err := os.Stat(filepath.Join(lockDir, "owner")); err == nil {
				l.cut()
				if down > 0 {
					time.Sleep(down)
					l.restore()
				}
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Errorf("the lock never appeared in %s", lockDir)
	}()
	return done
}

func deployShell(t *testing.T, ex executor.Executor, plan *destination.Plan, opts *destination.Options) (*destination.Report, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return destination.Deploy(ctx, ex, plan, opts)
}

// TestLockLinkCutReleased: the link is cut while the lock step runs,
// after the host took the lock, and comes back at once: Deploy fails with
// the transport error, releases the lock on a new connection, and the
// next deploy takes the lock without waiting.
func TestLockLinkCutReleased(t *testing.T) {
	l := dialProxied(t, 3)
	dir := t.TempDir()
	plan := shellPlan(dir, "echo applied\n")
	if rep, err := deployShell(t, l.ex, plan, nil); err != nil { // a history for the slow tail to read
		t.Fatalf("first deploy: %v\n%s", err, rep)
	}
	lockDir := filepath.Join(dir, ".ferry", "lock")
	done := cutWhenLocked(t, l, lockDir, 100*time.Millisecond)
	rep, err := deployShell(t, slowTail(t, l.ex), plan, nil)
	<-done
	t.Logf("cut during the lock step: %v\n%s", err, rep)
	var de *destination.Error
	var te *executor.TransportError
	if !errors.As(err, &de) || de.Phase != "lock" || !errors.As(err, &te) {
		t.Fatalf("err = %v, want a lock-phase *Error wrapping a *TransportError", err)
	}
	if _, err := os.Stat(lockDir); !os.IsNotExist(err) {
		t.Errorf("the lock was not released after the lost connection: %v", err)
	}
	start := time.Now()
	if rep, err := deployShell(t, l.ex, plan, nil); err != nil {
		t.Fatalf("next deploy: %v\n%s", err, rep)
	}
	t.Logf("next deploy took %s", time.Since(start).Round(time.Millisecond))
}

// TestLockLinkCutStale: the link stays down until Deploy has given up,
// so the lock stays on the host. The next deploy of this process breaks
// it at once (the lock has this process's id and another deploy's
// token), while a concurrent deploy of this process is never taken for
// stale.
func TestLockLinkCutStale(t *testing.T) {
	l := dialProxied(t, -1)
	dir := t.TempDir()
	plan := shellPlan(dir, "echo applied\n")
	if rep, err := deployShell(t, l.ex, plan, nil); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, rep)
	}
	lockDir := filepath.Join(dir, ".ferry", "lock")
	done := cutWhenLocked(t, l, lockDir, 0)
	_, err := deployShell(t, slowTail(t, l.ex), plan, nil)
	<-done
	t.Logf("cut during the lock step, link down: %v", err)
	if err == nil {
		t.Fatal("deploy succeeded over a cut link")
	}
	owner, rerr := os.ReadFile(filepath.Join(lockDir, "owner"))
	if rerr != nil {
		t.Fatalf("the lock is not left on the host (the test needs it): %v", rerr)
	}
	l.restore()
	rep, err := deployShell(t, l.ex, plan, nil)
	if err != nil {
		t.Fatalf("next deploy waited for or failed on the stale lock: %v\n%s", err, rep)
	}
	broke := ""
	for _, s := range rep.Steps {
		if strings.HasPrefix(s.Name, "break stale lock") {
			broke = s.Name
		}
	}
	if !strings.Contains(broke, "earlier deploy of this process") {
		t.Errorf("lock %q not broken as left by this process:\n%s", owner, rep)
	}
}

// TestLockConcurrentBreakers: a stale lock and deploys of one app
// racing for it (four deploys): exactly one holds the lock at a time (the apply step
// records when it enters and leaves), and all of them succeed.
func TestLockConcurrentBreakers(t *testing.T) {
	ex := dialSSHD(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	plan := shellPlan(dir, fmt.Sprintf("echo in >>%[1]s\nsleep 0.2\necho out >>%[1]s\n", log))
	if err := os.MkdirAll(filepath.Join(dir, ".ferry", "lock"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A lock 2 hours old, from another machine: stale by age.
	if err := os.WriteFile(filepath.Join(dir, ".ferry", "lock", "owner"), []byte("id=1 host=elsewhere pid=1 user=x time=t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(filepath.Join(dir, ".ferry", "lock"), old, old)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = deployShell(t, ex, plan, &destination.Options{LockWait: 45 * time.Second})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("deploy %d: %v", i, err)
		}
	}
	b, _ := os.ReadFile(log)
	if got, want := strings.Fields(string(b)), strings.Fields(strings.Repeat("in out ", 4)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("applies overlapped or were lost: %v", got)
	}
}

func mustLookPath(t *testing.T, name string) string {
	t.Helper()
	for _, d := range strings.Split(os.Getenv("PATH"), ":") {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	t.Fatalf("%s not found on PATH", name)
	return ""
}

// removeStack removes a test's stack and network.
func removeStack(stack, network string) {
	exec.Command("docker", "stack", "rm", stack).Run()
	time.Sleep(2 * time.Second) // the stack's tasks let go of the network
	exec.Command("docker", "network", "rm", network).Run()
}

// countStackTasks counts the running containers of a stack.
func countStackTasks(t *testing.T, stack string) int {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label=com.docker.stack.namespace="+stack).Output()
	if err != nil {
		t.Fatal(err)
	}
	return len(strings.Fields(string(out)))
}

// TestFastRecordFails: a deploy whose record step fails on the host
// (its history cannot be appended to) is live: Deploy says so, at the
// record phase, and releases the lock; the next deploys, once the
// history is writable, number after the releases kept meanwhile.
func TestFastRecordFails(t *testing.T) {
	ex := dialSSHD(t)
	dir := t.TempDir()
	plan := shellPlan(dir, "echo applied\n")
	if rep, err := deployShell(t, ex, plan, nil); err != nil || rep.Release != 1 {
		t.Fatalf("first deploy: release %d, %v\n%s", rep.Release, err, rep)
	}
	hist := filepath.Join(dir, ".ferry", "history.jsonl")
	os.Rename(hist, hist+".saved")
	if err := os.Mkdir(hist, 0o700); err != nil {
		t.Fatal(err)
	}
	rep, err := deployShell(t, ex, plan, nil)
	t.Logf("history not writable: %v", err)
	var de *destination.Error
	if !errors.As(err, &de) || de.Phase != "record" || de.Step != "append to history" || rep.Outcome != destination.OutcomeSucceeded {
		t.Fatalf("err = %v, outcome %s; want a record-phase error, succeeded\n%s", err, rep.Outcome, rep)
	}
	if _, err := os.Stat(filepath.Join(dir, ".ferry", "lock")); !os.IsNotExist(err) {
		t.Errorf("the lock was not released: %v", err)
	}
	os.Remove(hist)
	os.Rename(hist+".saved", hist)
	rep, err = deployShell(t, ex, plan, nil)
	if err != nil || rep.Release != 2 || rep.Previous != 1 {
		t.Fatalf("deploy after: release %d, previous %d, %v\n%s", rep.Release, rep.Previous, err, rep)
	}
	got, err := destination.History(context.Background(), ex, dir)
	if err != nil || len(got) != 2 || got[1].Release != 2 || got[1].Previous != 1 || got[1].Outcome != destination.OutcomeSucceeded {
		t.Errorf("history: %+v, %v", got, err)
	}
}
