package destination_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

// TestBuildSwarm builds an app on the Swarm manager (over real sshd),
// pushes it to the private test registry and deploys the stack with the
// registry credentials: the service runs the pushed image, by the tag of
// its content. The same content again neither builds nor replaces the
// service's task.
func TestBuildSwarm(t *testing.T) {
	reg := testenv.Registry(t)
	swarmManager(t)
	testenv.WebappImage(t)
	ex := dialSSHD(t)
	stack := randomName("ferryswarmbuild")
	network := randomName("ferryswarmbuild-net-")
	repo := reg.Addr + "/" + stack + "/web"
	removeImages(t, repo, "") // runs after the stack is removed
	target := destination.Swarm{Dir: t.TempDir(), Network: network, Stack: stack, Timeout: 90 * time.Second}
	t.Cleanup(func() {
		exec.Command("docker", "stack", "rm", stack).Run()
		time.Sleep(2 * time.Second)
		exec.Command("docker", "network", "rm", network).Run()
	})
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": dockerfile("built for swarm"), "keep.txt": "k"})
	app := &translate.App{Name: "web", Image: repo, Build: &translate.Build{Context: dir},
		Health: &translate.Health{Command: []string{"/webapp", "-healthcheck", "/healthz"}, Interval: time.Second, Timeout: 2 * time.Second, Retries: 2}}
	opts := &destination.Options{Registries: []destination.Credentials{{Registry: reg.Addr, User: reg.User, Password: reg.Password}}}
	deploy := func() *destination.Report {
		t.Helper()
		plan, err := target.Plan(app)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		rep, err := destination.Deploy(ctx, ex, plan, opts)
		if err != nil {
			t.Fatalf("deploy: %v\n%s", err, rep)
		}
		return rep
	}
	service := func() string {
		out, err := exec.Command("docker", "service", "ps", "--no-trunc", "--filter", "desired-state=running", "--format", "{{.Image}} {{.ID}}", stack+"_web").CombinedOutput()
		if err != nil {
			t.Fatalf("docker service inspect: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}

	rep := deploy()
	if !built(rep) {
		t.Errorf("no build step\n%s", rep)
	}
	first := service()
	if !strings.HasPrefix(first, repo+":ctx-") {
		t.Errorf("service image = %q, want %s:ctx-...", first, repo)
	}
	if rep = deploy(); built(rep) {
		t.Errorf("unchanged redeploy built again")
	}
	if got := service(); got != first {
		t.Errorf("unchanged redeploy replaced the task: %q -> %q", first, got)
	}
}
