package destination_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

// crashing is an app whose container prints a known line to stderr and
// exits 1 at once: the webapp cannot listen on a port that is not a
// number, and is not restarted. The port's text holds the app's secret, which must be
// redacted wherever the line is shown.
func crashing(app *translate.App) *translate.App {
	app.Env = map[string]string{"PORT": app.Secrets[0].Value}
	app.Health = nil
	app.Restart = "no"
	return app
}

// TestDockerDiagnostics: a container that fails to start: the deploy's
// error, report and events carry its log line and exit code, with the
// secret redacted.
func TestDockerDiagnostics(t *testing.T) {
	e := newDockerEnv(t)
	e.target.Timeout = 10 * time.Second
	rec := &recorder{}
	rep, err := e.deploy(crashing(e.app(testenv.WebappV1, nil)), &destination.Options{Observer: rec})
	var de *destination.Error
	if !errors.As(err, &de) {
		t.Fatalf("err = %v, want *destination.Error", err)
	}
	t.Logf("error:\n%v", err)
	for name, text := range map[string]string{"error": err.Error(), "report": rep.Diagnostics, "events": rec.output()} {
		if !strings.Contains(text, "unknown port") {
			t.Errorf("%s lacks the container's log line:\n%s", name, text)
		}
		if !strings.Contains(text, "exit code 1") && name != "events" || strings.Contains(text, "quick-brown-fox-secret") {
			t.Errorf("%s lacks the exit code or shows the secret:\n%s", name, text)
		}
	}
	if rep.Outcome != destination.OutcomeRemoved || len(e.containers()) != 0 {
		t.Errorf("outcome %s, containers %v: want the failed first release removed", rep.Outcome, e.containers())
	}
}

// TestDockerReleases: three releases, a rollback to the first by number,
// the history listing all, and a removal that keeps the volume unless
// asked, and removes the network ferry created.
func TestDockerReleases(t *testing.T) {
	e := newDockerEnv(t)
	t.Cleanup(func() {
		out, _ := exec.Command("docker", "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+e.project).Output()
		for _, v := range strings.Fields(string(out)) {
			exec.Command("docker", "volume", "rm", v).Run()
		}
	})
	app := func(image, msg string) *translate.App {
		a := e.app(image, map[string]string{"MESSAGE": msg})
		a.Volumes = []translate.Volume{{Name: "data", Target: "/data"}}
		return a
	}
	e.mustDeploy(app(testenv.WebappV1, "one"))
	e.mustDeploy(app(testenv.WebappV2, "two"))
	e.mustDeploy(app(testenv.WebappV1, "three"))
	plan, err := e.target.Plan(app(testenv.WebappV1, "three"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := destination.Rollback(ctx, e.ex, plan, 2, nil)
	if err != nil {
		t.Fatalf("rollback to 2: %v\n%s", err, rep)
	}
	if got := e.get(); got != "two" {
		t.Errorf("after rollback to 2, GET / = %q, want two", got)
	}
	if _, err := destination.Rollback(ctx, e.ex, plan, 9, nil); !errors.Is(err, destination.ErrNoRelease) {
		t.Errorf("rollback to 9: %v, want ErrNoRelease", err)
	}
	var got []string
	for _, r := range e.history(app(testenv.WebappV1, "one")) {
		got = append(got, fmt.Sprintf("%d:%s:%s:%s:%d", r.Release, r.Action, r.Image, r.Outcome, r.From))
	}
	want := "1:deploy:ferry-webapp:v1:succeeded:0 2:deploy:ferry-webapp:v2:succeeded:0 3:deploy:ferry-webapp:v1:succeeded:0 4:rollback:ferry-webapp:v2:succeeded:2"
	if strings.Join(got, " ") != want {
		t.Errorf("history:\n got %s\nwant %s", strings.Join(got, " "), want)
	}

	volumes := func() []string {
		out, err := exec.Command("docker", "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+e.project).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(out))
	}
	if len(volumes()) != 1 {
		t.Fatalf("volumes before removal: %v", volumes())
	}
	rep, err = destination.Remove(ctx, e.ex, plan, nil)
	if err != nil {
		t.Fatalf("remove: %v\n%s", err, rep)
	}
	t.Logf("remove:\n%s", rep)
	if c := e.containers(); len(c) != 0 {
		t.Errorf("containers after removal: %v", c)
	}
	if exec.Command("docker", "network", "inspect", e.network).Run() == nil {
		t.Errorf("network %s, created by the first deploy, still there", e.network)
	}
	if v := volumes(); len(v) != 1 {
		t.Errorf("volume not kept: %v", v)
	}
	h := e.history(app(testenv.WebappV1, "one"))
	if last := h[len(h)-1]; last.Action != "remove" || last.Outcome != destination.OutcomeSucceeded {
		t.Errorf("last record %+v, want a successful remove", last)
	}
	// Back from the removal: rollback to release 1 by number.
	if rep, err := destination.Rollback(ctx, e.ex, plan, 1, nil); err != nil {
		t.Fatalf("rollback to 1 after removal: %v\n%s", err, rep)
	}
	if got := e.get(); got != "one" {
		t.Errorf("after rollback to 1, GET / = %q, want one", got)
	}
	if rep, err := destination.Remove(ctx, e.ex, plan, &destination.Options{RemoveVolumes: true}); err != nil {
		t.Fatalf("remove with volumes: %v\n%s", err, rep)
	}
	if v := volumes(); len(v) != 0 {
		t.Errorf("volumes left after a removal with RemoveVolumes: %v", v)
	}
}

// TestSwarmDiagnosticsAndRemove: a service whose task prints a known
// line and exits 1: the deploy's error carries the task's error and the
// line, secret redacted; then a good release is removed with its volume
// kept.
func TestSwarmDiagnosticsAndRemove(t *testing.T) {
	swarmManager(t)
	testenv.WebappImage(t)
	ex := dialSSHD(t)
	stack := randomName("ferryswarm")
	network := randomName("ferryswarm-net-")
	target := destination.Swarm{Dir: t.TempDir(), Network: network, Stack: stack, Timeout: 15 * time.Second}
	t.Cleanup(func() {
		removeStack(stack, network)
		out, _ := exec.Command("docker", "volume", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+stack).Output()
		for _, v := range strings.Fields(string(out)) {
			exec.Command("docker", "volume", "rm", v).Run()
		}
	})
	app := &translate.App{Name: "web", Image: testenv.WebappV1, Ports: []translate.Port{{Container: 8080}},
		Secrets: []translate.Secret{{Name: "token", Value: "swarm-secret-value", Env: "TOKEN"}},
		Volumes: []translate.Volume{{Name: "data", Target: "/data"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bad := *app
	plan, err := target.Plan(crashing(&bad))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := destination.Deploy(ctx, ex, plan, nil)
	t.Logf("crashing service: %v", err)
	if err == nil || !strings.Contains(err.Error(), "unknown port") || !strings.Contains(err.Error(), "non-zero exit (1)") ||
		strings.Contains(err.Error(), "swarm-secret-value") || rep.Outcome != destination.OutcomeRemoved {
		t.Errorf("error lacks the task's error or log line, or shows the secret (outcome %s)", rep.Outcome)
	}

	plan, err = target.Plan(app)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := destination.Deploy(ctx, ex, plan, nil); err != nil {
		t.Fatalf("deploy: %v\n%s", err, rep)
	}
	if rep, err := destination.Remove(ctx, ex, plan, nil); err != nil {
		t.Fatalf("remove: %v\n%s", err, rep)
	}
	if n := countStackTasks(t, stack); n != 0 {
		t.Errorf("%d containers of the stack left", n)
	}
	out, _ := exec.Command("docker", "volume", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+stack).Output()
	if len(strings.Fields(string(out))) != 1 {
		t.Errorf("volumes after removal: %q, want the one kept", out)
	}
}

// TestKubernetesDiagnosticsAndRemove: a first release whose pods cannot
// be scheduled: the error and the report carry the FailedScheduling
// event and the pods' condition, and nothing is left; then a release is
// removed by label, its PersistentVolumeClaim kept unless asked.
func TestKubernetesDiagnosticsAndRemove(t *testing.T) {
	e := newKubeEnv(t)
	e.target.Timeout = 15 * time.Second
	bad := kubeApp(testenv.WebappV1)
	bad.Resources.Requests.CPU = "500"
	rep, err := e.deploy(bad)
	t.Logf("unschedulable first release: %v", err)
	if err == nil || !strings.Contains(err.Error(), "FailedScheduling") || !strings.Contains(rep.Diagnostics, "condition PodScheduled=False Unschedulable") {
		t.Errorf("the error or the report lacks the scheduling failure:\n%s", rep.Diagnostics)
	}
	if rep.Outcome != destination.OutcomeRemoved {
		t.Errorf("outcome %s, want removed", rep.Outcome)
	}
	if out := e.kubectl("get", "deployments,services", "-l", "app.kubernetes.io/instance=web", "-o", "name"); out != "" {
		t.Errorf("left after the failed first release: %s", out)
	}

	e.target.Timeout = 60 * time.Second
	app := kubeApp(testenv.WebappV1)
	app.Replicas = 1
	app.Volumes = []translate.Volume{{Name: "data", Target: "/data"}}
	e.mustDeploy(app)
	plan, err := e.target.Plan(app)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if rep, err := destination.Remove(ctx, e.ex, plan, nil); err != nil {
		t.Fatalf("remove: %v\n%s", err, rep)
	}
	if out := e.kubectl("get", "deployments,statefulsets,services,secrets,configmaps,ingresses", "-l", "app.kubernetes.io/instance=web", "-o", "name"); out != "" {
		t.Errorf("left after removal: %s", out)
	}
	if out := e.kubectl("get", "persistentvolumeclaims", "-o", "name"); out == "" {
		t.Errorf("the PersistentVolumeClaim was not kept")
	}
	if rep, err := destination.Remove(ctx, e.ex, plan, &destination.Options{RemoveVolumes: true}); err != nil {
		t.Fatalf("remove with volumes: %v\n%s", err, rep)
	}
	if out := e.kubectl("get", "persistentvolumeclaims", "-l", "app.kubernetes.io/instance=web", "-o", "name"); out != "" {
		t.Errorf("PersistentVolumeClaims left: %s", out)
	}
}
