package destination_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

// cutAt cuts the link when the step named step starts.
type cutAt struct {
	l    *link
	step string
	done bool
}

func (c *cutAt) Event(e executor.Event) {
	if e.Kind == executor.StepStart && e.Step == c.step && !c.done {
		c.done = true
		c.l.cut()
	}
}

// TestDockerLinkCut deploys over a 50 ms, 1 MB/s link, then cuts the
// link while the next release is being verified, and leaves it down
// until that deploy has given up: the deploy fails with the transport
// error, and once the link is back the next deploy succeeds at once,
// without waiting for the lock the cut one left.
func TestDockerLinkCut(t *testing.T) {
	e := newDockerEnv(t)
	l := dialProxied(t, -1)
	e.ex = l.ex
	l.slow()
	rep, err := e.deploy(e.app(testenv.WebappV1, nil), nil)
	if err != nil {
		t.Fatalf("deploy over a slow link: %v\n%s", err, rep)
	}
	if got := e.get(); got != "hello" {
		t.Errorf("GET / = %q, want hello", got)
	}
	v2 := e.app(testenv.WebappV2, nil)
	cut := &cutAt{l: l, step: "wait until healthy"}
	rep, err = e.deploy(v2, &destination.Options{Observer: cut})
	t.Logf("cut during verify: %v\n%s", err, rep)
	if !cut.done || err == nil {
		t.Fatalf("the link was not cut during verify (cut %v, err %v)", cut.done, err)
	}
	l.restore()
	if rep, err := e.deploy(v2, nil); err != nil {
		t.Fatalf("deploy after the cut: %v\n%s", err, rep)
	}
	if got := e.get(); got != "hello v2" {
		t.Errorf("GET / = %q, want hello v2", got)
	}
}

// TestKubernetesLinkCut does the same on Kubernetes: a deploy over a
// 50 ms, 1 MB/s link, a cut during the rollout status of the next, and a
// deploy that succeeds once the link is back.
func TestKubernetesLinkCut(t *testing.T) {
	e := newKubeEnv(t)
	l := dialProxied(t, -1)
	e.ex = l.ex
	l.slow()
	e.mustDeploy(kubeApp(testenv.WebappV1))
	plan, err := e.target.Plan(kubeApp(testenv.WebappV2))
	if err != nil {
		t.Fatal(err)
	}
	cut := &cutAt{l: l, step: plan.Verify.Steps[0].Name}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := destination.Deploy(ctx, e.ex, plan, &destination.Options{Observer: cut})
	t.Logf("cut during verify: %v\n%s", err, rep)
	if !cut.done || err == nil {
		t.Fatalf("the link was not cut during verify (cut %v, err %v)", cut.done, err)
	}
	l.restore()
	e.mustDeploy(kubeApp(testenv.WebappV2))
	if img := e.kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); img != testenv.WebappV2 {
		t.Errorf("the Deployment runs %s, want %s", img, testenv.WebappV2)
	}
}

// TestSwarmSlowLink deploys a stack over a 50 ms, 1 MB/s link.
func TestSwarmSlowLink(t *testing.T) {
	swarmManager(t)
	testenv.WebappImage(t)
	l := dialProxied(t, 2)
	l.slow()
	stack := randomName("ferryswarm")
	network := randomName("ferryswarm-net-")
	target := destination.Swarm{Dir: t.TempDir(), Network: network, Stack: stack, Timeout: 60 * time.Second}
	t.Cleanup(func() { removeStack(stack, network) })
	plan, err := target.Plan(&translate.App{Name: "web", Image: testenv.WebappV1, Ports: []translate.Port{{Container: 8080}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if rep, err := destination.Deploy(ctx, l.ex, plan, nil); err != nil {
		t.Fatalf("deploy over a slow link: %v\n%s", err, rep)
	}
	if n := countStackTasks(t, stack); n != 1 {
		t.Errorf("%d running tasks, want 1", n)
	}
}
