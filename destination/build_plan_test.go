package destination

import (
	"strings"
	"testing"

	"github.com/ferryhq/ferry/translate"
)

func TestPlanWithBuild(t *testing.T) {
	app := func(image string) *translate.App {
		return &translate.App{Name: "web", Image: image, Build: &translate.Build{Git: "https://git.example.com/web.git", Ref: "main"},
			Registry: &translate.RegistryAuth{User: "ci", PasswordEnv: "PW"}}
	}
	// Docker: built on the host, no registry needed; the files hold a
	// placeholder until the build.
	p, err := Docker{Dir: "/srv"}.Plan(&translate.App{Name: "web", Build: &translate.Build{Context: "/src/web"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.builds) != 1 || p.builds[0].repo != "web" || p.builds[0].push {
		t.Fatalf("docker builds = %+v", p.builds)
	}
	if !strings.Contains(string(p.Files[0].Data), placeholderPrefix) {
		t.Errorf("compose file lacks the placeholder:\n%s", p.Files[0].Data)
	}
	if s := p.String(); !strings.Contains(s, "web: web:<tag> from context /src/web") {
		t.Errorf("dry run lacks the build:\n%s", s)
	}

	// Swarm and Kubernetes pull from a registry: an image without one is refused.
	for _, target := range []Target{Swarm{}, Kubernetes{}} {
		if _, err := target.Plan(&translate.App{Name: "web", Build: &translate.Build{Context: "."}}); err == nil || !strings.Contains(err.Error(), "registry") {
			t.Errorf("%T without a registry: err = %v", target, err)
		}
	}
	p, err = Kubernetes{}.Plan(app("registry.example.com/team/web:v1"))
	if err != nil {
		t.Fatal(err)
	}
	b := p.builds[0]
	if b.repo != "registry.example.com/team/web" || !b.push || !b.digest || p.kube == nil || len(p.auths) != 1 {
		t.Errorf("kubernetes build = %+v, kube %v, auths %v", b, p.kube, p.auths)
	}
	if s := p.String(); !strings.Contains(s, "deployed by digest") || strings.Contains(s, "PW=") {
		t.Errorf("dry run:\n%s", s)
	}
	p, err = Swarm{}.Plan(app("registry.example.com/team/web"))
	if err != nil {
		t.Fatal(err)
	}
	if b := p.builds[0]; !b.push || b.digest {
		t.Errorf("swarm build = %+v", b)
	}
}

func TestOptionsHash(t *testing.T) {
	base := &translate.Build{Context: "."}
	if optionsHash(base, false) != "" {
		t.Errorf("no options: want no hash")
	}
	a := optionsHash(&translate.Build{Args: map[string]string{"A": "1"}}, false)
	b := optionsHash(&translate.Build{Args: map[string]string{"A": "2"}}, false)
	c := optionsHash(&translate.Build{Target: "x"}, false)
	if a == "" || a == b || a == c {
		t.Errorf("hashes do not tell options apart: %q %q %q", a, b, c)
	}
}
