package destination

import (
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

// TestPlanProxyNameNotALabelValue checks that a proxy name the routing
// label cannot carry is refused as the label's rule says, though the
// stack was validated before the label was added.
func TestPlanProxyNameNotALabelValue(t *testing.T) {
	_, err := Docker{Dir: "/srv/ferry", ProxyName: "Edge Proxy!"}.Plan(proxiedApp())
	const want = `services[web].labels.ferry.routed-by: "Edge Proxy!" is not a label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)`
	if _, ok := err.(*translate.ValidationError); !ok || err.Error() != want {
		t.Fatalf("Plan: %T %v, want *translate.ValidationError %s", err, err, want)
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
