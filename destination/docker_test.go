package destination_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

// dockerEnv is one Docker test's app, target and host.
type dockerEnv struct {
	t       *testing.T
	ex      executor.Executor
	target  destination.Docker
	port    int
	project string
	network string
}

func newDockerEnv(t *testing.T) *dockerEnv {
	t.Helper()
	testenv.WebappImage(t)
	testenv.Compose(t)
	e := &dockerEnv{t: t, ex: dialSSHD(t), port: freePort(t), project: randomName("ferrytest-"), network: randomName("ferrytest-net-")}
	e.target = destination.Docker{Dir: t.TempDir(), Network: e.network, Project: e.project, Timeout: 60 * time.Second}
	testenv.RemoveCompose(t, e.project, false, e.network)
	return e
}

func (e *dockerEnv) app(image string, env map[string]string) *translate.App {
	return &translate.App{
		Name:    "web",
		Image:   image,
		Ports:   []translate.Port{{Container: 8080, Host: e.port}},
		Env:     env,
		Secrets: []translate.Secret{{Name: "token", Value: "quick-brown-fox-secret", Env: "TOKEN"}},
		Health:  &translate.Health{Command: []string{"/webapp", "-healthcheck", "/healthz"}, Interval: time.Second, Timeout: 2 * time.Second, Retries: 2},
	}
}

func (e *dockerEnv) deploy(app *translate.App, opts *destination.Options) (*destination.Report, error) {
	e.t.Helper()
	plan, err := e.target.Plan(app)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := destination.Deploy(ctx, e.ex, plan, opts)
	e.t.Logf("deploy %s: %s in %s", app.Image, rep.Outcome, time.Since(start).Round(time.Millisecond))
	return rep, err
}

func (e *dockerEnv) mustDeploy(app *translate.App) *destination.Report {
	e.t.Helper()
	rep, err := e.deploy(app, nil)
	if err != nil {
		e.t.Fatalf("deploy: %v\n%s", err, rep)
	}
	return rep
}

// get fetches "/" of the published port.
func (e *dockerEnv) get() string {
	e.t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	var last error
	for range 20 {
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", e.port))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return strings.TrimSpace(string(b))
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	e.t.Fatalf("GET: %v", last)
	return ""
}

func (e *dockerEnv) containers() []string {
	e.t.Helper()
	out, err := exec.Command("docker", "ps", "-q", "--no-trunc", "--filter", "label=com.docker.compose.project="+e.project).Output()
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.Fields(string(out))
}

func (e *dockerEnv) history(app *translate.App) []destination.Record {
	e.t.Helper()
	plan, err := e.target.Plan(app)
	if err != nil {
		e.t.Fatal(err)
	}
	h, err := destination.History(context.Background(), e.ex, plan.Dir)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// TestDocker walks one app through its life on a Docker host: first
// deploy (network created), unchanged redeploy, update, failed update
// rolled back, rollback on request.
func TestDocker(t *testing.T) {
	e := newDockerEnv(t)
	rec := &recorder{}
	v1 := e.app(testenv.WebappV1, nil)

	// First deploy: the network is created and the app serves.
	if exec.Command("docker", "network", "inspect", e.network).Run() == nil {
		t.Fatalf("network %s exists before the deploy", e.network)
	}
	rep, err := e.deploy(v1, &destination.Options{Observer: rec})
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, rep)
	}
	t.Logf("report:\n%s", rep)
	if rep.Outcome != destination.OutcomeSucceeded || rep.Release != 1 || rep.Previous != 0 {
		t.Errorf("report: outcome %s release %d previous %d", rep.Outcome, rep.Release, rep.Previous)
	}
	if err := exec.Command("docker", "network", "inspect", e.network).Run(); err != nil {
		t.Errorf("network %s not created: %v", e.network, err)
	}
	if got := e.get(); got != "hello" {
		t.Errorf("GET / = %q, want hello", got)
	}
	if rec.count(executor.StepStart, "apply") == 0 || rec.count(executor.StepEnd, "verify") == 0 || rec.count(executor.StepEnd, "upload") != 2 {
		t.Errorf("events: missing apply/verify/upload events")
	}
	if !strings.Contains(rec.output(), "running and healthy") {
		t.Errorf("output events lack the health check's report:\n%s", rec.output())
	}
	for _, ev := range rec.events {
		if strings.Contains(fmt.Sprint(ev), "quick-brown-fox-secret") || ev.Result != nil && strings.Contains(string(ev.Result.Stdout)+string(ev.Result.Stderr), "quick-brown-fox-secret") {
			t.Errorf("an event shows the secret: %+v", ev)
		}
	}
	plan, _ := e.target.Plan(v1)
	for _, p := range []string{filepath.Join(plan.Dir, "secrets.env"), filepath.Join(plan.Dir, ".ferry", "releases", "1", "secrets.env")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, fi.Mode())
		}
	}
	for _, s := range rep.Steps {
		if s.Status != destination.StatusOK {
			t.Errorf("step %s/%s: %s", s.Phase, s.Name, s.Status)
		}
	}
	first := e.containers()
	if len(first) != 1 {
		t.Fatalf("containers: %v", first)
	}

	// Unchanged: nothing is recreated.
	e.mustDeploy(v1)
	if got := e.containers(); strings.Join(got, ",") != strings.Join(first, ",") {
		t.Errorf("unchanged deploy replaced the container: %v -> %v", first, got)
	}

	// Update: a new container serves v2.
	v2 := e.app(testenv.WebappV2, nil)
	e.mustDeploy(v2)
	if got := e.get(); got != "hello v2" {
		t.Errorf("after update GET / = %q, want hello v2", got)
	}
	if got := e.containers(); len(got) != 1 || got[0] == first[0] {
		t.Errorf("update did not replace the container: %v -> %v", first, got)
	}

	// A failing health check rolls back: v2 serves again.
	bad := e.app(testenv.WebappV1, map[string]string{"FAIL_HEALTH": "1", "MESSAGE": "broken"})
	rep, err = e.deploy(bad, nil)
	var de *destination.Error
	if !errors.As(err, &de) {
		t.Fatalf("failing deploy: err = %v, want *destination.Error\n%s", err, rep)
	}
	t.Logf("failing deploy: %v\n%s", err, rep)
	if de.Phase != "verify" || rep.Outcome != destination.OutcomeRolledBack {
		t.Errorf("failing deploy: phase %q outcome %s", de.Phase, rep.Outcome)
	}
	if !strings.Contains(err.Error(), e.ex.Host()) || !strings.Contains(err.Error(), "rolled back") {
		t.Errorf("error does not name the host and the rollback: %v", err)
	}
	var xe *executor.ExitError
	if !errors.As(err, &xe) {
		t.Errorf("error does not wrap an *executor.ExitError: %v", err)
	}
	if got := e.get(); got != "hello v2" {
		t.Errorf("after rollback GET / = %q, want hello v2", got)
	}

	// Rollback on request: back to v1.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	plan2, err := e.target.Plan(v2)
	if err != nil {
		t.Fatal(err)
	}
	rep, err = destination.Rollback(ctx, e.ex, plan2, 0, nil)
	if err != nil {
		t.Fatalf("rollback: %v\n%s", err, rep)
	}
	if got := e.get(); got != "hello" {
		t.Errorf("after Rollback GET / = %q, want hello", got)
	}

	h := e.history(v1)
	var summary []string
	for _, r := range h {
		summary = append(summary, fmt.Sprintf("%d:%s:%s:%s", r.Release, r.Action, r.Image, r.Outcome))
	}
	want := []string{
		"1:deploy:ferry-webapp:v1:succeeded",
		"2:deploy:ferry-webapp:v1:succeeded",
		"3:deploy:ferry-webapp:v2:succeeded",
		"4:deploy:ferry-webapp:v1:rolled-back",
		"5:rollback:ferry-webapp:v1:succeeded",
	}
	if strings.Join(summary, " ") != strings.Join(want, " ") {
		t.Errorf("history:\n got %v\nwant %v", summary, want)
	}
	if h[4].From != 2 {
		t.Errorf("rollback restored release %d, want 2 (the release before 3 with another version)", h[4].From)
	}
}

// TestDockerFirstDeployFails: a first release that never gets healthy is
// taken down, and the report, the error and the history say so, without
// claiming a rollback to a previous release there never was.
func TestDockerFirstDeployFails(t *testing.T) {
	e := newDockerEnv(t)
	e.target.Timeout = 20 * time.Second
	rep, err := e.deploy(e.app(testenv.WebappV1, map[string]string{"FAIL_HEALTH": "1"}), nil)
	if err == nil || rep.Outcome != destination.OutcomeRemoved {
		t.Fatalf("err = %v, outcome %s", err, rep.Outcome)
	}
	if strings.Contains(err.Error(), "previous release;") || !strings.Contains(err.Error(), "no previous release: the new one was removed") {
		t.Errorf("error does not say the new release was removed: %v", err)
	}
	if got := e.containers(); len(got) != 0 {
		t.Errorf("containers left after a failed first deploy: %v", got)
	}
	if h := e.history(e.app(testenv.WebappV1, nil)); len(h) != 1 || h[0].Outcome != destination.OutcomeRemoved {
		t.Errorf("history: %+v, want one record with outcome removed", h)
	}
}

// TestDockerOrphans: a service the app no longer has is removed.
func TestDockerOrphans(t *testing.T) {
	e := newDockerEnv(t)
	e.mustDeploy(e.app(testenv.WebappV1, nil))
	// Another service joins the project, as if an earlier version of the
	// app had it.
	compose := strings.Fields(testenv.Compose(t))
	extra := filepath.Join(t.TempDir(), "old.yaml")
	if err := os.WriteFile(extra, []byte("services:\n  old:\n    image: "+testenv.WebappV1+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(compose[0], append(compose[1:], "-p", e.project, "-f", extra, "up", "-d")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", cmd, err, out)
	}
	if n := len(e.containers()); n != 2 {
		t.Fatalf("%d containers, want 2", n)
	}
	e.mustDeploy(e.app(testenv.WebappV2, nil))
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+e.project, "--filter", "label=com.docker.compose.service=old").Output()
	if err != nil {
		t.Fatal(err)
	}
	if ids := strings.Fields(string(out)); len(ids) != 0 {
		t.Errorf("orphan service \"old\" not removed: %v", ids)
	}
	if got := e.get(); got != "hello v2" {
		t.Errorf("GET / = %q, want hello v2", got)
	}
}

// TestDockerLock: a held lock fails a deploy with a clear error, a wait
// outlasts it, and a dead owner's lock is broken.
func TestDockerLock(t *testing.T) {
	e := newDockerEnv(t)
	app := e.app(testenv.WebappV1, nil)
	plan, err := e.target.Plan(app)
	if err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(plan.Dir, ".ferry", "lock")
	hold := func(owner string) {
		t.Helper()
		if err := os.MkdirAll(lock, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(lock, "owner"), []byte(owner+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	hold("id=1 host=ci-runner-7 pid=4242 user=deployer time=2026-01-01T00:00:00Z")
	rep, err := e.deploy(app, nil)
	var le *destination.LockedError
	if !errors.As(err, &le) || !errors.Is(err, destination.ErrLocked) {
		t.Fatalf("err = %v, want *LockedError", err)
	}
	t.Logf("held lock: %v", err)
	if !strings.Contains(err.Error(), "ci-runner-7") || !strings.Contains(err.Error(), e.ex.Host()) {
		t.Errorf("error names neither the owner nor the host: %v", err)
	}
	if rep.Outcome != destination.OutcomeFailed || len(e.containers()) != 0 {
		t.Errorf("outcome %s, containers %v", rep.Outcome, e.containers())
	}

	// Waiting: the other deploy finishes after a second.
	go func() {
		time.Sleep(1500 * time.Millisecond)
		os.RemoveAll(lock)
	}()
	if rep, err := e.deploy(app, &destination.Options{LockWait: 30 * time.Second}); err != nil {
		t.Fatalf("deploy with LockWait: %v\n%s", err, rep)
	}

	// A lock whose owner (a process of this machine) has exited is broken.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	hold(fmt.Sprintf("id=2 host=%s pid=%d user=x time=2026-01-01T00:00:00Z", host, cmd.Process.Pid))
	rep, err = e.deploy(app, nil)
	if err != nil {
		t.Fatalf("deploy over a dead owner's lock: %v\n%s", err, rep)
	}
	broke := false
	for _, s := range rep.Steps {
		if strings.HasPrefix(s.Name, "break stale lock") {
			broke = true
		}
	}
	if !broke {
		t.Errorf("no stale-lock step in the report:\n%s", rep)
	}
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Errorf("lock left behind: %v", err)
	}
}

// TestDockerMissingTools: docker, or Compose, not installed on the host.
func TestDockerMissingTools(t *testing.T) {
	e := newDockerEnv(t)
	app := e.app(testenv.WebappV1, nil)
	bin := t.TempDir()
	for _, tool := range []string{"sh", "mkdir", "cat", "date", "rm", "tail", "cp", "ln", "ls", "sort", "head", "readlink", "basename", "dirname", "sleep", "mv", "chmod"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	plan, err := e.target.Plan(app)
	if err != nil {
		t.Fatal(err)
	}
	run := func(ex executor.Executor) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := destination.Deploy(ctx, ex, plan, nil)
		return err
	}

	err = run(withEnv{e.ex, []string{"PATH=" + bin}})
	t.Logf("no docker: %v", err)
	var de *destination.Error
	if !errors.As(err, &de) || de.Phase != "check" || de.Step != "docker engine" || !strings.Contains(err.Error(), e.ex.Host()) {
		t.Errorf("err = %v, want a check error on step \"docker engine\" naming the host", err)
	}

	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Fatal(err)
	}
	os.Symlink(docker, filepath.Join(bin, "docker"))
	err = run(withEnv{e.ex, []string{"PATH=" + bin, "DOCKER_CONFIG=" + t.TempDir()}})
	t.Logf("no compose: %v", err)
	if !errors.As(err, &de) || de.Phase != "check" || de.Step != "compose" || !strings.Contains(err.Error(), "docker-compose") {
		t.Errorf("err = %v, want a check error on step \"compose\"", err)
	}
	if de != nil && de.Outcome != destination.OutcomeFailed {
		t.Errorf("outcome %s, want failed (nothing changed)", de.Outcome)
	}
}

// TestDockerComposeV1: the same deploy, update and rollback with the old
// Python docker-compose, for hosts that have only that.
func TestDockerComposeV1(t *testing.T) {
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Skip("docker-compose (v1) not installed")
	}
	if out, err := exec.Command("docker-compose", "version", "--short").Output(); err != nil || !strings.HasPrefix(string(out), "1.") {
		t.Skipf("docker-compose is not v1: %s", out)
	}
	e := newDockerEnv(t)
	e.target.ComposeCommand = []string{"docker-compose"}
	e.mustDeploy(e.app(testenv.WebappV1, nil))
	e.mustDeploy(e.app(testenv.WebappV2, nil))
	if got := e.get(); got != "hello v2" {
		t.Errorf("GET / = %q, want hello v2", got)
	}
	rep, err := e.deploy(e.app(testenv.WebappV1, map[string]string{"FAIL_HEALTH": "1"}), nil)
	if err == nil || rep.Outcome != destination.OutcomeRolledBack {
		t.Fatalf("failing deploy: %v, %s", err, rep.Outcome)
	}
	if got := e.get(); got != "hello v2" {
		t.Errorf("after rollback GET / = %q, want hello v2", got)
	}
}

// TestDockerRebuiltLocalImage: an image built on the host behind a tag
// that is reused (":latest"), rebuilt, is running after the redeploy;
// the pull of a tag no registry has does not fail the deploy while the
// host has the image.
func TestDockerRebuiltLocalImage(t *testing.T) {
	e := newDockerEnv(t)
	ref := e.project + "-local:latest"
	tag := func(src string) {
		t.Helper()
		if out, err := exec.Command("docker", "tag", src, ref).CombinedOutput(); err != nil {
			t.Fatalf("docker tag %s %s: %v\n%s", src, ref, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", ref).Run() })
	tag(testenv.WebappV1)
	app := e.app(ref, nil)
	e.mustDeploy(app)
	if got := e.get(); got != "hello" {
		t.Fatalf("GET / = %q, want hello", got)
	}
	first := e.containers()

	tag(testenv.WebappV2) // "rebuilt"
	rec := &recorder{}
	rep, err := e.deploy(app, &destination.Options{Observer: rec})
	if err != nil {
		t.Fatalf("redeploy: %v\n%s\n%s", err, rep, rec.output())
	}
	if got := e.get(); got != "hello v2" || strings.Join(e.containers(), ",") == strings.Join(first, ",") {
		t.Errorf("after a rebuild behind the same tag: GET / = %q, containers %v -> %v", got, first, e.containers())
	}
	if out := rec.output(); !strings.Contains(out, "runs the host's image") {
		t.Errorf("the deploy does not say it kept the host's image after a failed pull:\n%s", out)
	}
}
