package translate_test

import (
	"strings"
	"testing"

	"github.com/ferryhq/ferry/translate"
)

// TestStartFirst: updates start the new task (Swarm) or pod
// (Kubernetes, which waits for its readiness probe, made from the health
// check) before stopping the old one, except where the old and the new
// would share a named ReadWriteOnce volume.
func TestStartFirst(t *testing.T) {
	app := &translate.App{Name: "web", Image: "nginx", Ports: []translate.Port{{Container: 80}},
		Health: &translate.Health{HTTP: &translate.HTTPCheck{Path: "/healthz"}}}
	withVolume := &translate.App{Name: "db", Image: "postgres",
		Volumes: []translate.Volume{{Name: "data", Target: "/var/lib/postgresql/data"}}}

	compose := func(a *translate.App) string {
		files, err := translate.ToCompose(a)
		if err != nil {
			t.Fatal(err)
		}
		return string(files[0].Data)
	}
	if got := compose(app); !strings.Contains(got, "    deploy:\n      update_config:\n        order: start-first\n") {
		t.Errorf("compose file of %s lacks update_config order start-first:\n%s", app.Name, got)
	}
	if got := compose(withVolume); strings.Contains(got, "start-first") {
		t.Errorf("compose file of %s (a named volume) starts first:\n%s", withVolume.Name, got)
	}

	kube := func(a *translate.App) string {
		out, err := translate.ToKubernetes(a)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	got := kube(app)
	for _, want := range []string{"  strategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxUnavailable: 0\n", "readinessProbe:\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("Deployment of %s lacks %q:\n%s", app.Name, want, got)
		}
	}
	if got := kube(withVolume); !strings.Contains(got, "  strategy:\n    type: Recreate\n") || strings.Contains(got, "maxUnavailable") {
		t.Errorf("Deployment of %s (a ReadWriteOnce volume) is not recreated:\n%s", withVolume.Name, got)
	}
}
