package executor_test

// The executor's fault suite: a real sshd, with Toxiproxy cutting the
// link, sshd crashing, many commands at once and hostile input. The
// README's "How ferry behaves" section reports its trial counts; keep
// them in step with the constants here.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/sshdtest"
	"github.com/ferryhq/ferry/internal/testenv"
	"golang.org/x/crypto/ssh"
)

const (
	faultCutTrials     = 8    // link cuts in a 20-step pipeline
	faultCrashTrials   = 2    // sshd crashed and restarted mid-run
	faultConcurrentCmd = 1000 // commands at once on one Client
)

// A link cut at a random point of a 20-step pipeline: the caller gets a
// *TransportError naming the step, no step that started runs twice, the
// remote processes are gone, and no goroutine is left behind.
func TestFaultLinkCutPipeline(t *testing.T) {
	api := testenv.Toxiproxy(t)
	s := sshdtest.Start(t, sshdtest.Options{})
	addr, proxy := testenv.NewProxy(t, api, s.Addr)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)
	before := runtime.NumGoroutine()
	c := dialVia(t, s, addr)
	for trial := 0; trial < faultCutTrials; trial++ {
		if trial > 0 {
			testenv.SetProxyEnabled(t, api, proxy, true)
		}
		dir := t.TempDir()
		marker := fmt.Sprintf("ferryfaultcut%d_%d", trial, time.Now().UnixNano())
		var steps []executor.Step
		for i := 0; i < 20; i++ {
			steps = append(steps, executor.Step{
				Name: "s" + strconv.Itoa(i),
				Args: []string{"sh", "-c", fmt.Sprintf("echo %d >> %s/ran; sleep 0.05 # %s", i, dir, marker)},
			})
		}
		// The cut comes while step k runs, a random time into it.
		k := rng.IntN(20)
		delay := time.Duration(rng.IntN(60)) * time.Millisecond
		cut := fmt.Sprintf("step s%d + %v", k, delay)
		res, err := c.Run(context.Background(), &executor.Pipeline{Name: "cut", Steps: steps, Observer: executor.ObserverFunc(func(e executor.Event) {
			if e.Kind == executor.StepStart && e.Index == k {
				time.AfterFunc(delay, func() { testenv.SetProxyEnabled(t, api, proxy, false) })
			}
		})})
		ran, _ := os.ReadFile(filepath.Join(dir, "ran"))
		seen := map[string]int{}
		for _, l := range strings.Fields(string(ran)) {
			seen[l]++
			if seen[l] > 1 {
				t.Fatalf("trial %d: step s%s ran twice", trial, l)
			}
		}
		if err == nil {
			if len(seen) != 20 {
				t.Fatalf("trial %d: no error, but %d steps ran", trial, len(seen))
			}
			t.Logf("trial %d: cut at %s, after the pipeline ended", trial, cut)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		var te *executor.TransportError
		if !errors.As(err, &te) {
			t.Fatalf("trial %d: not a *TransportError: %v", trial, err)
		}
		failed := -1
		for i, st := range res.Steps {
			if st.Err != nil {
				failed = i
				break
			}
		}
		if failed < 0 || !strings.Contains(err.Error(), fmt.Sprintf("step %q", res.Steps[failed].Name)) {
			t.Fatalf("trial %d: error does not name the failed step (%d): %v", trial, failed, err)
		}
		goneWithin(t, marker, 10*time.Second)
		t.Logf("trial %d: cut at %s: %d steps ran, step %q failed: %v", trial, cut, len(seen), res.Steps[failed].Name, err)
	}
	c.Close()
	waitGoroutines(t, before)
}

// waitGoroutines fails the test when more goroutines than before (and a
// little slack for the runtime's own) are still there after a while.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before+3 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sshd crashes mid-run and comes back: the running pipeline fails with a
// *TransportError, its remote processes are stopped by the host-side
// watchdog, and the next command on the same Client succeeds.
func TestFaultSSHDCrashRestart(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	c, err := executor.Dial(context.Background(), s.Addr, &executor.Config{
		User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}, HostKeys: executor.FixedHostKey(s.HostKeys[0]),
		KeepAlive: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for trial := 0; trial < faultCrashTrials; trial++ {
		marker := fmt.Sprintf("ferryfaultcrash%d_%d", trial, time.Now().UnixNano())
		done := make(chan error, 1)
		go func() {
			_, err := c.Run(context.Background(), &executor.Pipeline{GracePeriod: time.Second, Steps: []executor.Step{
				{Name: "before", Args: []string{"true"}},
				{Name: "long", Args: []string{"sh", "-c", "sleep 300 # " + marker}},
			}})
			done <- err
		}()
		waitRunning(t, marker)
		if err := s.Crash(); err != nil {
			t.Fatal(err)
		}
		var te *executor.TransportError
		if err := <-done; !errors.As(err, &te) || !strings.Contains(err.Error(), `step "long"`) {
			t.Fatalf("trial %d: %v", trial, err)
		}
		goneWithin(t, marker, 10*time.Second)
		if err := s.Restart(); err != nil {
			t.Fatal(err)
		}
		out, err := c.Command("echo", "back").Output(context.Background())
		if err != nil || string(out) != "back\n" {
			t.Fatalf("trial %d: after the restart: %q, %v", trial, out, err)
		}
	}
}

// Many more commands than sessions at once on one Client: every one
// completes, with its own output.
func TestFaultConcurrentCommands(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{Config: []string{"MaxSessions 8"}})
	// A user whose login shell is /bin/sh: what is measured is ferry,
	// not the start-up files of root's shell on this machine.
	u := sshdtest.AddUser(t, "ferryconc", sshdtest.UserOptions{})
	c, err := executor.Dial(context.Background(), s.Addr, &executor.Config{
		User: u.Name, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}, HostKeys: executor.FixedHostKey(s.HostKeys[0]),
		MaxSessions: 8,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for i := 0; i < faultConcurrentCmd; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := c.Command("echo", strconv.Itoa(i)).Output(context.Background())
			if err != nil || string(out) != strconv.Itoa(i)+"\n" {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("command %d: %q %v", i, out, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d commands failed; first: %s", len(failures), faultConcurrentCmd, failures[0])
	}
}

// hostile is input that quoting, framing and redaction must carry
// unchanged: quotes, newlines, command substitution, markers' own
// bytes, non-UTF-8.
var hostile = []string{
	"", " ", "it's", `"q"`, `\`, `\\'`, "$HOME", "$(touch /tmp/ferry-injected)", "`touch /tmp/ferry-injected`",
	"a\nb", "\n", "a\r\nb", "*", "~", "-n", "--", "\xff\xfe", "é", ";", "|", "&&", "#", "!", "\t",
	"'\"'\"'", "\x1eFERRYdeadbeef:e:0:0\x1e", "FERRY_RUN=x", "EOF", "FERRY_SCRIPT", "%s%n", "${IFS}",
}

// The hostile corpus through Cmd, Pipeline, sudo and Local: argv, env and
// Dir arrive byte-exact, nothing is injected, secrets are redacted, names
// are carried, and NUL is refused with a clear error.
func TestFaultHostileInput(t *testing.T) {
	os.Remove("/tmp/ferry-injected")
	s := sshdtest.Start(t, sshdtest.Options{})
	c, err := executor.Dial(context.Background(), s.Addr, &executor.Config{
		User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}, HostKeys: executor.FixedHostKey(s.HostKeys[0]),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u := sshdtest.AddUser(t, "ferryhostile", sshdtest.UserOptions{Sudo: sshdtest.SudoNoPassword})
	cu := dialAs(t, s, u, "")
	// A directory whose name is hostile, that every user may enter.
	base := t.TempDir()
	os.Chmod(base, 0o755)
	os.Chmod(filepath.Dir(base), 0o755)
	dirName := "d it's $(x) \n\xff"
	dir := filepath.Join(base, dirName)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	type ex struct {
		r    runner
		user string
	}
	for name, e := range map[string]ex{"sshd": {c, ""}, "local": {&executor.Local{}, ""}, "sudo": {cu, "root"}, "sudo-nobody": {cu, "nobody"}} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			// Cmd: argv, env, Dir.
			cmd := e.r.Command(append([]string{"sh", "-c", `printf '%s\0' "$@"; printf '%s\0' "$V" "$(pwd)"`, "sh"}, hostile...)...)
			cmd.User = e.user
			cmd.Env = []string{"V=" + strings.Join(hostile, "|")}
			cmd.Dir = dir
			out, err := cmd.Output(ctx)
			if err != nil {
				t.Fatalf("Cmd: %v", err)
			}
			want := append(append([]string(nil), hostile...), strings.Join(hostile, "|"), dir)
			checkNulFields(t, "Cmd", out, want)

			// Pipeline: the same as steps, with hostile names and secrets.
			secret := `s3cr'et "$(id)"` + "\n\xff"
			rec := &recorder{}
			var steps []executor.Step
			for i, h := range hostile {
				steps = append(steps, executor.Step{
					Name: fmt.Sprintf("%d %s", i, h), User: e.user, Dir: dir,
					Args: []string{"printf", "%s", h}, Env: []string{"V=" + h},
				})
			}
			steps = append(steps,
				executor.Step{Name: "env", User: e.user, Args: []string{"sh", "-c", `printf '%s' "$V"`}, Env: []string{"V=" + secret}},
				executor.Step{Name: "script", User: e.user, Script: "printf '%s' " + shellQuote(secret) + "\nexit 3"},
			)
			res, err := e.r.Run(ctx, &executor.Pipeline{Name: "hostile " + secret, Secrets: []string{secret}, Observer: rec, Steps: steps})
			var ee *executor.ExitError
			if !errors.As(err, &ee) || ee.Step != "script" || ee.Code != 3 {
				t.Fatalf("Pipeline: %v", err)
			}
			for i, h := range hostile {
				if got := string(res.Steps[i].Stdout); got != h {
					t.Errorf("step %d: stdout %q, want %q", i, got, h)
				}
				if res.Steps[i].Name != fmt.Sprintf("%d %s", i, h) {
					t.Errorf("step %d: name %q", i, res.Steps[i].Name)
				}
			}
			for what, text := range map[string]string{
				"error": err.Error(), "events": rec.text(), "Cmd": ee.Cmd,
				"result": fmt.Sprintf("%s %s %s", res.Pipeline, res.Steps[len(hostile)].Stdout, res.Steps[len(hostile)+1].Stdout),
			} {
				if strings.Contains(text, "s3cr") {
					t.Errorf("%s leaks the secret: %q", what, text)
				}
			}
			// NUL: refused before anything runs, with a clear error.
			_, err = e.r.Run(ctx, &executor.Pipeline{Steps: []executor.Step{{Name: "nul", User: e.user, Args: []string{"echo", "a\x00b"}}}})
			if err == nil || !strings.Contains(err.Error(), "NUL") {
				t.Errorf("NUL in argv: %v", err)
			}
			nc := e.r.Command("echo")
			nc.User = e.user
			nc.Env = []string{"V=a\x00b"}
			if err := nc.Run(ctx); err == nil || !strings.Contains(err.Error(), "NUL") {
				t.Errorf("NUL in env: %v", err)
			}
		})
	}
	if _, err := os.Stat("/tmp/ferry-injected"); err == nil {
		t.Fatal("hostile input was run as a command")
	}
}

func checkNulFields(t *testing.T, what string, out []byte, want []string) {
	t.Helper()
	got := strings.Split(string(out), "\x00")
	if len(got) != len(want)+1 || got[len(got)-1] != "" {
		t.Fatalf("%s: got %q", what, got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: field %d: got %q, want %q", what, i, got[i], want[i])
		}
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
