package destination_test

import (
	"bufio"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

// TestKubernetesStartFirst: on a real API server and controller manager,
// an update of a Deployment of four replicas (where Kubernetes' default
// would let one go unavailable) never takes an old pod away before a new
// one is available: through a watch of the app's ReplicaSets, in the
// order the API server records their changes, the replicas that are
// both wanted and available add up to four at every step. The live
// object has maxUnavailable 0 and the readiness probe made from the
// health check.
func TestKubernetesStartFirst(t *testing.T) {
	e := newKubeEnv(t)
	app := kubeApp(testenv.WebappV1)
	app.Replicas = 4
	app.Health = &translate.Health{HTTP: &translate.HTTPCheck{Path: "/healthz"}}
	e.mustDeploy(app)
	if got := e.kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.strategy.rollingUpdate.maxUnavailable}"); got != "0" {
		t.Errorf("live maxUnavailable = %q, want 0", got)
	}
	if got := e.kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].readinessProbe.httpGet.path}"); got != "/healthz" {
		t.Errorf("live readiness probe path = %q, want /healthz", got)
	}

	watch := exec.Command("kubectl", "--kubeconfig", e.kubeconfig, "-n", e.ns, "get", "replicasets", "-l", "app.kubernetes.io/instance=web",
		"--watch", "-o", `jsonpath={.metadata.name} {.spec.replicas} {.status.availableReplicas}{"\n"}`)
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
	}()
	time.Sleep(500 * time.Millisecond) // the watch's first event: the current state
	v2 := *app
	v2.Image = testenv.WebappV2
	e.mustDeploy(&v2)
	time.Sleep(time.Second)
	watch.Process.Kill()
	watch.Wait()
	<-done

	mu.Lock()
	defer mu.Unlock()
	// serving[rs] = min(wanted, available) of ReplicaSet rs, as of the
	// latest event.
	serving := map[string]int{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		want, _ := strconv.Atoi(f[1])
		avail := 0
		if len(f) > 2 {
			avail, _ = strconv.Atoi(f[2])
		}
		serving[f[0]] = min(want, avail)
		total := 0
		for _, n := range serving {
			total += n
		}
		if total < 4 {
			t.Errorf("after the event %q, %d replicas are wanted and available (%v), want 4 throughout", l, total, serving)
		}
	}
	if len(serving) < 2 {
		t.Errorf("the watch saw %d ReplicaSets, want the old and the new one: %q", len(serving), lines)
	}
	t.Logf("%d ReplicaSet events during the update", len(lines))
}
