package executor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/sshdtest"
	"golang.org/x/crypto/ssh"
)

// executors returns the executors every pipeline test runs on: a client
// of a real OpenSSH sshd, and Local.
func executors(t *testing.T) map[string]runner {
	c, _ := dialSSHD(t, sshdtest.Options{})
	return map[string]runner{"sshd": c, "local": &executor.Local{}}
}

// runner is the part of executor.Executor these tests use.
type runner interface {
	Command(args ...string) *executor.Cmd
	Run(ctx context.Context, p *executor.Pipeline) (*executor.Result, error)
}

type recorder struct {
	mu     sync.Mutex
	events []executor.Event
}

func (r *recorder) Event(e executor.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.events {
		switch e.Kind {
		case executor.Output:
			fmt.Fprintf(&b, "%s %s %q\n", e.Step, e.Stream, e.Line)
		case executor.StepEnd:
			fmt.Fprintf(&b, "%s end %d\n", e.Step, e.Result.ExitCode)
		default:
			fmt.Fprintf(&b, "%s %s\n", e.Step, e.Kind)
		}
	}
	return b.String()
}

func TestPipelineSemantics(t *testing.T) {
	for name, ex := range executors(t) {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{}
			p := &executor.Pipeline{
				Name:     "deploy",
				Env:      []string{"GREETING=hi"},
				Secrets:  []string{"s3cr3t"},
				Observer: rec,
				Steps: []executor.Step{
					{Name: "greet", Args: []string{"sh", "-c", `echo "$GREETING"; echo warn >&2; printf 'no newline'`}},
					{Name: "progress", Script: "printf '10%%\\r50%%\\r100%%\\n'"},
					{Name: "secret", Args: []string{"echo", "token=s3cr3t"}},
					{Name: "hidden", Args: []string{"echo", "quiet"}, Hidden: true},
					{Name: "save", Args: []string{"echo", "v1.2.3"}, Save: "version"},
					{Name: "fails-ignored", Script: "echo bad >&2; exit 4", IgnoreErrors: true},
					{Name: "stdin", Args: []string{"cat"}, Stdin: strings.NewReader("fed\n")},
					{Name: "dir", Args: []string{"pwd"}, Dir: "/tmp"},
					{Name: "fails", Args: []string{"sh", "-c", "exit 7"}},
					{Name: "never", Args: []string{"echo", "never"}},
				},
			}
			res, err := ex.Run(context.Background(), p)
			var ee *executor.ExitError
			if !errors.As(err, &ee) || ee.Step != "fails" || ee.Code != 7 {
				t.Fatalf("err = %v", err)
			}
			want := []struct {
				code    int
				stdout  string
				skipped bool
			}{
				{0, "hi\nno newline", false},
				{0, "10%\r50%\r100%\n", false},
				{0, "token=***\n", false},
				{0, "quiet\n", false},
				{0, "v1.2.3\n", false},
				{4, "", false},
				{0, "fed\n", false},
				{0, "/tmp\n", false},
				{7, "", false},
				{-1, "", true},
			}
			for i, w := range want {
				got := res.Steps[i]
				if got.ExitCode != w.code || string(got.Stdout) != w.stdout || got.Skipped != w.skipped {
					t.Errorf("step %d %s: code %d stdout %q skipped %v; want %d %q %v", i, got.Name, got.ExitCode, got.Stdout, got.Skipped, w.code, w.stdout, w.skipped)
				}
			}
			if string(res.Steps[0].Stderr) != "warn\n" {
				t.Errorf("stderr %q", res.Steps[0].Stderr)
			}
			if res.Saved["version"] != "v1.2.3" {
				t.Errorf("saved %q", res.Saved)
			}
			log := rec.text()
			for _, s := range []string{
				`greet stdout "hi\n"`, `greet stderr "warn\n"`, `greet stdout "no newline"`,
				`progress stdout "10%\r"`, `progress stdout "50%\r"`, `progress stdout "100%\n"`,
				`secret stdout "token=***\n"`, "fails end 7", "hidden end 0",
			} {
				if !strings.Contains(log, s) {
					t.Errorf("events lack %s:\n%s", s, log)
				}
			}
			if strings.Contains(log, "s3cr3t") || strings.Contains(log, "quiet") || strings.Contains(log, "never") {
				t.Errorf("events leak:\n%s", log)
			}
		})
	}
}

func TestPipelineOutputCapped(t *testing.T) {
	for name, ex := range executors(t) {
		t.Run(name, func(t *testing.T) {
			var lines int
			var mu sync.Mutex
			p := &executor.Pipeline{
				OutputLimit: 1024,
				Observer: executor.ObserverFunc(func(e executor.Event) {
					if e.Kind == executor.Output {
						mu.Lock()
						lines++
						mu.Unlock()
					}
				}),
				Steps: []executor.Step{{Args: []string{"seq", "1", "100000"}}},
			}
			res, err := ex.Run(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			st := res.Steps[0]
			if !st.Truncated || len(st.Stdout) > 1100 || !bytes.HasPrefix(st.Stdout, []byte("1\n2\n")) || !bytes.HasSuffix(st.Stdout, []byte("99999\n100000\n")) {
				t.Fatalf("truncated %v, %d bytes: %q", st.Truncated, len(st.Stdout), st.Stdout)
			}
			if lines != 100000 {
				t.Fatalf("%d output events, want 100000", lines)
			}
		})
	}
}

// processGone reports whether no process whose command line holds marker
// is left on this machine (the sshd "host" is this machine too).
func processGone(t *testing.T, marker string) bool {
	t.Helper()
	out, _ := (&executor.Local{}).Command("sh", "-c", "ps -eo args | grep -F -- "+marker+" | grep -v grep || true").Output(context.Background())
	return len(bytes.TrimSpace(out)) == 0
}

func waitGone(t *testing.T, marker string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !processGone(t, marker) {
		if time.Now().After(deadline) {
			t.Fatalf("processes with %q still running", marker)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestStepTimeoutKillsTree(t *testing.T) {
	for name, ex := range executors(t) {
		t.Run(name, func(t *testing.T) {
			marker := fmt.Sprintf("ferrytimeout%d", time.Now().UnixNano())
			p := &executor.Pipeline{
				GracePeriod: 500 * time.Millisecond,
				Steps: []executor.Step{
					// A child that ignores SIGTERM, and a grandchild.
					{Name: "slow", Timeout: 500 * time.Millisecond, IgnoreErrors: true,
						Script: "trap '' TERM; sh -c 'sleep 300; : " + marker + "' & sleep 301 # " + marker + "\nwait"},
					{Name: "after", Args: []string{"echo", "continued"}},
				},
			}
			start := time.Now()
			res, err := ex.Run(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Fatalf("took %v", d)
			}
			st := res.Steps[0]
			if !st.TimedOut || !errors.Is(st.Err, executor.ErrTimeout) {
				t.Fatalf("step: %+v", st)
			}
			if string(res.Steps[1].Stdout) != "continued\n" {
				t.Fatalf("after: %+v", res.Steps[1])
			}
			waitGone(t, marker)
		})
	}
}

func TestCancelStopsRemoteWork(t *testing.T) {
	for name, ex := range executors(t) {
		t.Run(name, func(t *testing.T) {
			marker := fmt.Sprintf("ferrycancel%d", time.Now().UnixNano())
			ctx, cancel := context.WithCancel(context.Background())
			started := make(chan struct{})
			var once sync.Once
			p := &executor.Pipeline{
				Observer: executor.ObserverFunc(func(e executor.Event) {
					if e.Kind == executor.Output {
						once.Do(func() { close(started) })
					}
				}),
				Steps: []executor.Step{{Script: "echo up; sh -c 'sleep 300 # " + marker + "' & sleep 302 # " + marker + "\nwait"}},
			}
			go func() { <-started; cancel() }()
			res, err := ex.Run(ctx, p)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v", err)
			}
			if res.Steps[0].OK() {
				t.Fatal("cancelled step reported OK")
			}
			waitGone(t, marker)

			// The same through Cmd.
			ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err = ex.Command("sh", "-c", "sleep 303 # "+marker+"x & sleep 304 # "+marker+"x\nwait").Run(ctx)
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Cmd err = %v", err)
			}
			waitGone(t, marker+"x")
		})
	}
}

// A step that leaves a background child holding its output open must not
// hold up the pipeline.
func TestBackgroundChildDoesNotHang(t *testing.T) {
	for name, ex := range executors(t) {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			res, err := ex.Run(context.Background(), &executor.Pipeline{Steps: []executor.Step{
				{Script: "sleep 20 & echo started"},
				{Args: []string{"echo", "next"}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("took %v", d)
			}
			if string(res.Steps[0].Stdout) != "started\n" || string(res.Steps[1].Stdout) != "next\n" {
				t.Fatalf("%q %q", res.Steps[0].Stdout, res.Steps[1].Stdout)
			}
		})
	}
}

// When the host's shell cannot even read the script (no head in PATH),
// the pipeline fails and says why; it never reports success.
func TestBootstrapFailureIsAnError(t *testing.T) {
	t.Setenv("PATH", "/nonexistent")
	res, err := (&executor.Local{}).Run(context.Background(), &executor.Pipeline{Steps: []executor.Step{{Args: []string{"/bin/echo", "x"}}}})
	if err == nil || !strings.Contains(err.Error(), "head") {
		t.Fatalf("err = %v", err)
	}
	if res.Steps[0].OK() {
		t.Fatal("step reported OK")
	}
}

// A step run as root by a login user that is not root, which ignores
// SIGTERM, is still gone after its timeout: the stop goes through sudo.
func TestSudoStepTimeoutKillsRootProcesses(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	u := sshdtest.AddUser(t, "ferrysudokill", sshdtest.UserOptions{Sudo: sshdtest.SudoNoPassword})
	c, err := executor.Dial(context.Background(), s.Addr, &executor.Config{
		User: u.Name, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}, HostKeys: executor.FixedHostKey(s.HostKeys[0]),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	marker := fmt.Sprintf("ferrysudokill%d", time.Now().UnixNano())
	res, err := c.Run(context.Background(), &executor.Pipeline{
		GracePeriod: 500 * time.Millisecond,
		Steps: []executor.Step{{
			User: "root", Timeout: time.Second,
			Script: "trap '' TERM; id -u; sh -c 'trap \"\" TERM; sleep 300 # " + marker + "' & sleep 301 # " + marker + "\nwait",
		}},
	})
	if !errors.Is(err, executor.ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
	if string(res.Steps[0].Stdout) != "0\n" {
		t.Fatalf("step did not run as root: %q", res.Steps[0].Stdout)
	}
	waitGone(t, marker)
}
