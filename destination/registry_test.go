package destination_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

// pushAs tags a local image as ref and pushes it to the test registry,
// logged in through a Docker config of the test's own (the machine's
// ~/.docker is left alone), then removes the local tag so that a deploy
// has to pull it.
func pushAs(t *testing.T, reg testenv.RegistryPeer, local, ref string) {
	t.Helper()
	cfg := t.TempDir()
	run := func(stdin string, args ...string) {
		t.Helper()
		cmd := exec.Command("docker", append([]string{"--config", cfg}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run(reg.Password, "login", "--username", reg.User, "--password-stdin", reg.Addr)
	run("", "tag", local, ref)
	run("", "push", ref)
	run("", "image", "rm", ref)
}

// argvWatcher samples the command lines of every process of this
// machine (the test's "remote host") while a deploy runs.
type argvWatcher struct {
	stop chan struct{}
	done sync.WaitGroup
	mu   sync.Mutex
	seen map[string]bool
}

func watchArgv() *argvWatcher {
	w := &argvWatcher{stop: make(chan struct{}), seen: map[string]bool{}}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		for {
			out, _ := exec.Command("ps", "-eo", "args").Output()
			w.mu.Lock()
			for _, l := range strings.Split(string(out), "\n") {
				w.seen[l] = true
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *argvWatcher) contains(s string) (string, int) {
	close(w.stop)
	w.done.Wait()
	for l := range w.seen {
		if strings.Contains(l, s) {
			return l, len(w.seen)
		}
	}
	return "", len(w.seen)
}

// TestPrivateRegistry deploys an image of a registry that asks for a
// password: without credentials the pull fails; with a wrong password
// the deploy stops before anything changes and says the password was
// refused; with the right one (given in the spec by environment
// variable) it runs, and a new image pushed behind the same tag is
// pulled by the next deploy. The password shows in no event, report,
// error, history record or command line of the host.
func TestPrivateRegistry(t *testing.T) {
	reg := testenv.Registry(t)
	e := newDockerEnv(t)
	ref := fmt.Sprintf("%s/%s/web:latest", reg.Addr, e.project)
	removeImages(t, reg.Addr+"/"+e.project+"/web", e.project)
	pushAs(t, reg, testenv.WebappV1, ref)
	app := e.app(ref, nil)
	app.Name = e.project

	// No credentials: the pull is refused.
	rep, err := e.deploy(app, nil)
	if err == nil {
		t.Fatalf("deploy without credentials succeeded\n%s", rep)
	}
	t.Logf("without credentials: %v", err)

	// A wrong password: refused as such, in the build phase.
	wrong := "wrong-" + reg.Password
	rec := &recorder{}
	rep, err = e.deploy(app, &destination.Options{Observer: rec, Registries: []destination.Credentials{{Registry: reg.Addr, User: reg.User, Password: wrong}}})
	if !errors.Is(err, destination.ErrRegistryAuth) {
		t.Fatalf("wrong password: err = %v, want ErrRegistryAuth\n%s", err, rep)
	}
	t.Logf("wrong password: %v", err)
	if rep.Outcome != destination.OutcomeFailed || strings.Contains(err.Error()+rep.String()+rec.output(), wrong) {
		t.Errorf("wrong password: outcome %s; or the password shows in the error, report or events", rep.Outcome)
	}

	// The right password, by reference in the spec.
	t.Setenv("FERRY_TEST_REGISTRY_PASSWORD", reg.Password)
	app.Registry = &translate.RegistryAuth{User: reg.User, PasswordEnv: "FERRY_TEST_REGISTRY_PASSWORD"}
	rec = &recorder{}
	w := watchArgv()
	rep, err = e.deploy(app, &destination.Options{Observer: rec})
	line, n := w.contains(reg.Password)
	if err != nil {
		t.Fatalf("deploy with credentials: %v\n%s", err, rep)
	}
	if line != "" {
		t.Errorf("the password is on a command line of the host: %q", line)
	}
	t.Logf("sampled %d distinct command lines during the deploy", n)
	if got := e.get(); got != "hello" {
		t.Errorf("GET / = %q, want hello", got)
	}
	first := e.containers()

	// Same tag, new image: the redeploy pulls it and rolls it out.
	pushAs(t, reg, testenv.WebappV2, ref)
	rep2, err := e.deploy(app, &destination.Options{Observer: rec})
	if err != nil {
		t.Fatalf("redeploy: %v\n%s", err, rep2)
	}
	if got := e.get(); got != "hello v2" || strings.Join(e.containers(), ",") == strings.Join(first, ",") {
		t.Errorf("after a new image behind the same tag: GET / = %q, containers %v -> %v", got, first, e.containers())
	}

	// Nowhere to be seen.
	plan, _ := e.target.Plan(app)
	hist, err := destination.History(context.Background(), e.ex, plan.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{rec.output(), rep.String(), rep2.String(), fmt.Sprintf("%+v", hist)} {
		if strings.Contains(s, reg.Password) {
			t.Errorf("the password shows in: %.300s", s)
		}
	}
	// The login belongs to the app, not to the login user.
	cfg, err := os.ReadFile(plan.Dir + "/.ferry/docker/config.json")
	if err != nil || !strings.Contains(string(cfg), reg.Addr) {
		t.Errorf("the app's docker config has no login for %s: %v", reg.Addr, err)
	}
}
