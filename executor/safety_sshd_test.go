package executor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/sshdtest"
	"golang.org/x/crypto/ssh"
)

// dialAs dials s as the test user u.
func dialAs(t *testing.T, s *sshdtest.Server, u *sshdtest.User, sudoPassword string) *executor.Client {
	t.Helper()
	c, err := executor.Dial(context.Background(), s.Addr, &executor.Config{
		User: u.Name, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}, HostKeys: executor.FixedHostKey(s.HostKeys[0]),
		SudoPassword: sudoPassword,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A Script step run through sudo whose commands read standard input runs
// to its end: the script is not on the commands' standard input.
func TestSudoScriptStdinKeepsScript(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{PAM: true})
	nopw := sshdtest.AddUser(t, "ferrysudoin", sshdtest.UserOptions{Sudo: sshdtest.SudoNoPassword})
	pw := sshdtest.AddUser(t, "ferrysudoinpw", sshdtest.UserOptions{Password: "pw-ferry-1", Sudo: sshdtest.SudoPassword})
	clients := map[string]*executor.Client{
		"nopasswd": dialAs(t, s, nopw, ""),
		"askpass":  dialAs(t, s, pw, "pw-ferry-1"),
	}
	homes := map[string]string{"nopasswd": nopw.Home, "askpass": pw.Home}
	// Shells read a script ahead in blocks: what a command can eat is
	// what lies beyond the first block, so the script is long.
	pad := "# " + strings.Repeat("x", 64<<10) + "\n"
	for name, c := range clients {
		t.Run(name, func(t *testing.T) {
			for _, user := range []string{"root", "nobody"} {
				res, err := c.Run(context.Background(), &executor.Pipeline{Steps: []executor.Step{{
					User: user,
					// This machine's /tmp may not be writable by others.
					Env:    []string{"TMPDIR=" + homes[name]},
					Script: "echo first\ncat >/dev/null\n" + pad + "read x || true\n" + pad + "echo last\n",
				}}})
				if err != nil {
					t.Fatalf("as %s: %v", user, err)
				}
				if got := string(res.Steps[0].Stdout); got != "first\nlast\n" {
					t.Fatalf("as %s: stdout %q: the script was cut", user, got)
				}
			}
		})
	}
}

// A step that ends just as its Timeout passes never gets the next step
// stopped in its place: the stop request names its step and is dropped
// once that step ended.
func TestStepTimeoutNeverStopsNextStep(t *testing.T) {
	for name, ex := range executors(t) {
		t.Run(name, func(t *testing.T) {
			const runs = 12
			timedOut := 0
			for i := 0; i < runs; i++ {
				res, err := ex.Run(context.Background(), &executor.Pipeline{
					GracePeriod: 200 * time.Millisecond,
					Steps: []executor.Step{
						{Name: "a", Args: []string{"sleep", "0.3"}, Timeout: time.Duration(280+10*(i%5)) * time.Millisecond, IgnoreErrors: true},
						{Name: "b", Args: []string{"sh", "-c", "sleep 0.4; echo b"}},
					},
				})
				if err != nil {
					t.Fatalf("run %d: %v (step a: code %d, timed out %v)", i, err, res.Steps[0].ExitCode, res.Steps[0].TimedOut)
				}
				if got := string(res.Steps[1].Stdout); got != "b\n" {
					t.Fatalf("run %d: step b stdout %q", i, got)
				}
				if res.Steps[0].TimedOut {
					timedOut++
				}
				if a := res.Steps[0]; a.TimedOut != (a.Err != nil) {
					t.Fatalf("run %d: step a timed out %v but err %v", i, a.TimedOut, a.Err)
				}
			}
			t.Logf("%d of %d runs: step a timed out; step b ran whole in all", timedOut, runs)
		})
	}
}

// Processes that leave the step's process group and session (setsid)
// are stopped too, on a step's timeout and when a Cmd's context ends.
func TestSetsidDescendantsStopped(t *testing.T) {
	for name, ex := range executors(t) {
		t.Run(name, func(t *testing.T) {
			marker := fmt.Sprintf("ferrysetsid%d", time.Now().UnixNano())
			spawn := "setsid sh -c 'trap \"\" TERM; sleep 300 # " + marker + "' </dev/null >/dev/null 2>&1 &\n"
			_, err := ex.Run(context.Background(), &executor.Pipeline{
				GracePeriod: 300 * time.Millisecond,
				Steps:       []executor.Step{{Name: "escape", Timeout: 700 * time.Millisecond, Script: spawn + "sleep 300"}},
			})
			if !errors.Is(err, executor.ErrTimeout) {
				t.Fatalf("err = %v", err)
			}
			waitGone(t, marker)

			ctx, cancel := context.WithCancel(context.Background())
			cmd := ex.Command("sh", "-c", strings.ReplaceAll(spawn, marker, marker+"c")+"sleep 300")
			cmd.GracePeriod = 300 * time.Millisecond
			if err := cmd.Start(ctx); err != nil {
				t.Fatal(err)
			}
			time.AfterFunc(700*time.Millisecond, cancel)
			if err := cmd.Wait(); !errors.Is(err, context.Canceled) {
				t.Fatalf("Cmd: err = %v", err)
			}
			waitGone(t, marker+"c")
		})
	}
}

// A secret with a single quote (and other characters that quoting
// changes) is redacted from ExitError.Cmd, error texts, names, events
// and logs, in every quoted form.
func TestSecretQuotedFormsRedacted(t *testing.T) {
	secret := `it's "s3cr\et"` + "\t$(id)"
	for name, ex := range executors(t) {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{}
			res, err := ex.Run(context.Background(), &executor.Pipeline{
				Name:     "deploy " + secret,
				Secrets:  []string{secret},
				Observer: rec,
				Steps: []executor.Step{{
					Name: "use " + secret,
					Args: []string{"sh", "-c", `printf '%s\n' "$1" >&2; exit 3`, "x", secret},
				}},
			})
			var ee *executor.ExitError
			if !errors.As(err, &ee) || ee.Code != 3 {
				t.Fatalf("err = %v", err)
			}
			for what, s := range map[string]string{
				"error": err.Error(), "Cmd": ee.Cmd, "Stderr": string(ee.Stderr), "events": rec.text(),
				"result": fmt.Sprintf("%q %q %q", res.Pipeline, res.Steps[0].Name, res.Steps[0].Stderr),
			} {
				if strings.Contains(s, "s3cr") {
					t.Errorf("%s leaks the secret: %s", what, s)
				}
			}
		})
	}
}

// A Hidden step's output stays out of events, logs and errors; it is kept
// only in the StepResult that Run returns.
func TestHiddenStepOutputStaysOut(t *testing.T) {
	var logs lockedBuf
	lg := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := sshdtest.Start(t, sshdtest.Options{})
	c, err := executor.Dial(context.Background(), s.Addr, &executor.Config{
		User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}, HostKeys: executor.FixedHostKey(s.HostKeys[0]), Logger: lg,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for name, ex := range map[string]runner{"sshd": c, "local": &executor.Local{Logger: lg}} {
		t.Run(name, func(t *testing.T) {
			var events []executor.Event
			res, err := ex.Run(context.Background(), &executor.Pipeline{
				Observer: executor.ObserverFunc(func(e executor.Event) {
					if e.Result != nil {
						r := *e.Result
						e.Result = &r
					}
					events = append(events, e)
				}),
				Steps: []executor.Step{{
					Name: "hush", Hidden: true,
					Script: "echo hush-out; echo hush-err >&2; exit 5",
				}},
			})
			if err == nil {
				t.Fatal("no error")
			}
			if string(res.Steps[0].Stdout) != "hush-out\n" || string(res.Steps[0].Stderr) != "hush-err\n" {
				t.Fatalf("result lost the output: %q %q", res.Steps[0].Stdout, res.Steps[0].Stderr)
			}
			var seen strings.Builder
			for _, e := range events {
				fmt.Fprintf(&seen, "%v %q", e.Line, e.Kind)
				if e.Result != nil {
					fmt.Fprintf(&seen, " %q %q %v", e.Result.Stdout, e.Result.Stderr, e.Result.Err)
				}
			}
			for what, s := range map[string]string{"error": err.Error(), "events": seen.String(), "logs": logs.String()} {
				if what == "logs" && !strings.Contains(s, "hush") {
					t.Errorf("no log record of the step: %s", s)
				}
				if strings.Contains(s, "hush-") {
					t.Errorf("%s show the hidden output: %s", what, s)
				}
			}
		})
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
