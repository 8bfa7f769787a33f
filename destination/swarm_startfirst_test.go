package destination_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

// TestSwarmStartFirst: on a real single-node Swarm, an update starts the
// new task before it stops the old one (update_config order
// start-first): at some moment of the update two tasks of the service
// run at once, and a request loop on the stack's network (every 10 ms,
// keep-alive and new connections, through the service's virtual IP)
// sees no failed request across the updates.
func TestSwarmStartFirst(t *testing.T) {
	swarmManager(t)
	testenv.WebappImage(t)
	ex := dialSSHD(t)
	stack := randomName("ferrysf")
	network := randomName("ferrysf-net-")
	target := destination.Swarm{Dir: t.TempDir(), Network: network, Stack: stack, Timeout: 90 * time.Second}
	t.Cleanup(func() {
		exec.Command("docker", "stack", "rm", stack).Run()
		time.Sleep(2 * time.Second)
		exec.Command("docker", "network", "rm", network).Run()
	})
	app := func(image string) *translate.App {
		return &translate.App{Name: "web", Image: image, Ports: []translate.Port{{Container: 8080}},
			Health: &translate.Health{Command: []string{"/webapp", "-healthcheck", "/healthz"}, Interval: time.Second, Timeout: 5 * time.Second, Retries: 5}}
	}
	deploy := func(a *translate.App) {
		t.Helper()
		plan, err := target.Plan(a)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if rep, err := destination.Deploy(ctx, ex, plan, nil); err != nil {
			t.Fatalf("deploy %s: %v\n%s", a.Image, err, rep)
		}
	}
	deploy(app(testenv.WebappV1))
	out, err := exec.Command("docker", "service", "inspect", "--format", "{{.Spec.UpdateConfig.Order}}", stack+"_web").Output()
	if got := strings.TrimSpace(string(out)); err != nil || got != "start-first" {
		t.Errorf("update order: %q, %v; want start-first", got, err)
	}

	// The request loop runs in a container on the stack's network (the
	// routing mesh's published ports are not reachable on loopback), and
	// asks Swarm's DNS for the tasks' addresses ("tasks.<service>"): the
	// service's virtual IP needs IPVS, which not every kernel has (this
	// machine's has not).
	loopName := randomName("ferrysf-loop-")
	if out, err := exec.Command("docker", "run", "-d", "--name", loopName, "--network", network, "--no-healthcheck",
		testenv.WebappV1, "-loop", "http://tasks."+stack+"_web:8080/").CombinedOutput(); err != nil {
		t.Fatalf("request loop: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", loopName).Run() })

	// Count the service's running containers while the update runs.
	var most atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			out, _ := exec.Command("docker", "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+stack+"_web").Output()
			if n := int64(len(strings.Fields(string(out)))); n > most.Load() {
				most.Store(n)
			}
		}
	}()
	deploy(app(testenv.WebappV2))
	deploy(app(testenv.WebappV1))
	deploy(app(testenv.WebappV2))
	close(stop)
	<-done
	if out, err := exec.Command("docker", "stop", "-t", "20", loopName).CombinedOutput(); err != nil {
		t.Fatalf("stop the request loop: %v\n%s", err, out)
	}
	logs, _ := exec.Command("docker", "logs", loopName).CombinedOutput()
	var total, failed int
	for _, line := range strings.Split(string(logs), "\n") {
		if _, err := fmt.Sscanf(line, "loop: total %d failed %d", &total, &failed); err == nil {
			break
		}
	}
	if total == 0 || failed != 0 {
		t.Errorf("request loop through the service across 3 start-first updates: %d of %d failed\n%s", failed, total, logs)
	} else {
		t.Logf("FIGURES swarm start-first: 3 updates, %d failed of %d requests", failed, total)
	}
	if most.Load() < 2 {
		t.Errorf("at most %d container of the service ran during the update; start-first runs the new beside the old", most.Load())
	}
}
