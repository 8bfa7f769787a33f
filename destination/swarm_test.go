package destination_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

// swarmManager makes this machine's engine a single-node Swarm manager
// (see [testenv.Swarm]).
func swarmManager(t *testing.T) {
	t.Helper()
	testenv.Swarm(t)
}

// TestSwarm deploys a stack on a real single-node Swarm over SSH: first
// deploy (overlay network created), update, failed update rolled back.
func TestSwarm(t *testing.T) {
	swarmManager(t)
	testenv.WebappImage(t)
	ex := dialSSHD(t)
	port := freePort(t)
	stack := randomName("ferryswarm")
	network := randomName("ferryswarm-net-")
	target := destination.Swarm{Dir: t.TempDir(), Network: network, Stack: stack, Timeout: 60 * time.Second}
	t.Cleanup(func() {
		exec.Command("docker", "stack", "rm", stack).Run()
		time.Sleep(2 * time.Second) // the stack's tasks let go of the network
		exec.Command("docker", "network", "rm", network).Run()
	})
	app := func(image string, env map[string]string) *translate.App {
		return &translate.App{
			Name:   "web",
			Image:  image,
			Ports:  []translate.Port{{Container: 8080, Host: port}},
			Env:    env,
			Health: &translate.Health{Command: []string{"/webapp", "-healthcheck", "/healthz"}, Interval: time.Second, Timeout: 2 * time.Second, Retries: 2},
		}
	}
	deploy := func(a *translate.App) (*destination.Report, error) {
		plan, err := target.Plan(a)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		start := time.Now()
		rep, err := destination.Deploy(ctx, ex, plan, nil)
		t.Logf("deploy %s: %s in %s", a.Image, rep.Outcome, time.Since(start).Round(time.Millisecond))
		return rep, err
	}
	// The routing mesh may not route loopback here; the task's own
	// address on docker_gwbridge is reachable from the host.
	taskAddr := func() string {
		out, _ := exec.Command("docker", "ps", "-q", "--no-trunc", "--filter", "label=com.docker.stack.namespace="+stack).Output()
		ids := strings.Fields(string(out))
		if len(ids) == 0 {
			return ""
		}
		out, _ = exec.Command("docker", "network", "inspect", "--format",
			`{{range $id, $c := .Containers}}{{if eq $id "`+ids[0]+`"}}{{$c.IPv4Address}}{{end}}{{end}}`, "docker_gwbridge").Output()
		ip, _, _ := strings.Cut(strings.TrimSpace(string(out)), "/")
		return ip
	}
	get := func(want string) {
		t.Helper()
		c := &http.Client{Timeout: 3 * time.Second}
		var last string
		for range 60 {
			url := fmt.Sprintf("http://127.0.0.1:%d/", port)
			if ip := taskAddr(); ip != "" {
				url = "http://" + ip + ":8080/"
			}
			resp, err := c.Get(url)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if last = strings.TrimSpace(string(b)); last == want {
					return
				}
			} else {
				last = err.Error()
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatalf("GET: %q, want %q", last, want)
	}

	if rep, err := deploy(app(testenv.WebappV1, map[string]string{"MESSAGE": "swarm v1"})); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, rep)
	}
	if out, err := exec.Command("docker", "network", "inspect", "--format", "{{.Driver}}", network).Output(); err != nil || strings.TrimSpace(string(out)) != "overlay" {
		t.Fatalf("network %s: %q, %v", network, out, err)
	}
	get("swarm v1")

	if rep, err := deploy(app(testenv.WebappV2, map[string]string{"MESSAGE": "swarm v2"})); err != nil {
		t.Fatalf("update: %v\n%s", err, rep)
	}
	// Verified means the update finished, not that old tasks still run.
	out, err := exec.Command("docker", "service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}} {{.Spec.TaskTemplate.ContainerSpec.Image}}", stack+"_web").Output()
	if got := strings.TrimSpace(string(out)); err != nil || !strings.HasPrefix(got, "completed "+testenv.WebappV2) {
		t.Fatalf("after the update's verify: %q, %v", got, err)
	}
	get("swarm v2")

	rep, err := deploy(app(testenv.WebappV2, map[string]string{"MESSAGE": "swarm broken", "FAIL_HEALTH": "1"}))
	var de *destination.Error
	if !errors.As(err, &de) || rep.Outcome != destination.OutcomeRolledBack {
		t.Fatalf("failing update: outcome %s, err %v\n%s", rep.Outcome, err, rep)
	}
	get("swarm v2")
}
