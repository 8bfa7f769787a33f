package destination

import (
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/prevalidated"
	"github.com/ferryhq/ferry/translate"
)

// TestPlanTranslatesPrevalidated checks that each target translates the
// stack it validated through the translation that does not validate it
// again.
func TestPlanTranslatesPrevalidated(t *testing.T) {
	compose, objects := prevalidated.StackToCompose, prevalidated.StackObjects
	t.Cleanup(func() { prevalidated.StackToCompose, prevalidated.StackObjects = compose, objects })
	calls := 0
	prevalidated.StackToCompose = func(s *translate.Stack, opts []translate.ComposeOption) ([]translate.File, error) {
		calls++
		return compose.(func(*translate.Stack, []translate.ComposeOption) ([]translate.File, error))(s, opts)
	}
	prevalidated.StackObjects = func(s *translate.Stack, opts []translate.KubernetesOption) ([]translate.Object, error) {
		calls++
		return objects.(func(*translate.Stack, []translate.KubernetesOption) ([]translate.Object, error))(s, opts)
	}
	for _, tc := range []struct {
		name   string
		target Target
	}{
		{"docker", Docker{Dir: "/srv/ferry"}},
		{"swarm", Swarm{Dir: "/srv/ferry"}},
		{"kubernetes", Kubernetes{Namespace: "shop"}},
	} {
		calls = 0
		if _, err := tc.target.Plan(sampleApp()); err != nil {
			t.Fatalf("%s: Plan: %v", tc.name, err)
		}
		if _, err := tc.target.PlanStack(sampleStack()); err != nil {
			t.Fatalf("%s: PlanStack: %v", tc.name, err)
		}
		if calls != 2 {
			t.Errorf("%s: %d translations without validation, want 2 (one per plan)", tc.name, calls)
		}
	}
}

// TestPlanProxyName checks that Docker refuses a proxy name that is not
// one (the routing label carries it), whether or not the app has
// domains.
func TestPlanProxyName(t *testing.T) {
	for _, app := range []*translate.App{proxiedApp(), sampleApp()} {
		_, err := Docker{Dir: "/srv/ferry", ProxyName: "Edge Proxy!"}.Plan(app)
		const want = `destination: docker: proxy name "Edge Proxy!" is not a proxy name (at most 63 lowercase letters, digits, '-' and '_', starting and ending with a letter or digit)`
		if err == nil || err.Error() != want {
			t.Errorf("Plan: %v, want %s", err, want)
		}
	}
	if _, err := (Docker{Dir: "/srv/ferry", ProxyName: strings.Repeat("p", 64)}).Plan(proxiedApp()); err == nil {
		t.Errorf("Plan with a 64-character proxy name: no error")
	}
}

// TestPlanLoneAppDependsOn checks that a lone app's depends_on, which
// only a stack's rules cover, is refused by every target with those
// rules' paths.
func TestPlanLoneAppDependsOn(t *testing.T) {
	const want = `services[web].depends_on[0]: no service named "db" in the stack
services[web].depends_on[1]: a service cannot depend on itself`
	for _, target := range []Target{Docker{Dir: "/srv/ferry"}, Swarm{Dir: "/srv/ferry"}, Kubernetes{Namespace: "shop"}} {
		app := sampleApp()
		app.DependsOn = []translate.Dependency{{Service: "db"}, {Service: "web"}}
		_, err := target.Plan(app)
		if _, ok := err.(*translate.ValidationError); !ok || err.Error() != want {
			t.Errorf("%T.Plan: %T %v, want *translate.ValidationError %s", target, err, err, want)
		}
	}
}
