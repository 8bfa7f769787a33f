package translate

import (
	"strings"
	"testing"
)

func stackOf(deps map[string][]string) *Stack {
	s := &Stack{Name: "shop"}
	for _, name := range []string{"web", "api", "db", "cache"} {
		ds, ok := deps[name]
		if !ok {
			continue
		}
		a := &App{Name: name, Image: "example/" + name + ":1"}
		for _, d := range ds {
			a.DependsOn = append(a.DependsOn, Dependency{Service: d})
		}
		s.Services = append(s.Services, a)
	}
	return s
}

func TestStackOrder(t *testing.T) {
	s := stackOf(map[string][]string{"web": {"api", "cache"}, "api": {"db"}, "db": nil, "cache": nil})
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	order, err := s.Order()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range order {
		names = append(names, a.Name)
	}
	if got, want := strings.Join(names, ","), "db,api,cache,web"; got != want {
		t.Errorf("order %s, want %s", got, want)
	}
}

func TestStackCycleNamed(t *testing.T) {
	s := stackOf(map[string][]string{"web": {"api"}, "api": {"db"}, "db": {"web"}})
	err := s.Validate()
	if err == nil || !strings.Contains(err.Error(), "cycle: api -> db -> web -> api") {
		t.Fatalf("Validate = %v, want the cycle named", err)
	}
	if _, err := s.Order(); err == nil || !strings.Contains(err.Error(), "api -> db -> web -> api") {
		t.Fatalf("Order = %v, want the cycle named", err)
	}
}

func TestStackValidateListsEveryProblem(t *testing.T) {
	s := &Stack{Name: "Bad_Name", Services: []*App{
		{Name: "web", Image: "", DependsOn: []Dependency{{Service: "nope"}, {Service: "db", Condition: ConditionHealthy}}},
		{Name: "db", Image: "postgres:16"},
		{Name: "db", Image: "postgres:16"},
	}}
	err := s.Validate()
	if err == nil {
		t.Fatal("Validate = nil")
	}
	for _, want := range []string{
		"name: \"Bad_Name\"",
		"services[web].image",
		"services[web].depends_on[0]: no service named \"nope\"",
		"services[web].depends_on[1].condition: \"db\" has no health check",
		"services[db].name: \"db\" is used by more than one service",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
}

func TestWarningString(t *testing.T) {
	w := Warning{File: "compose.yaml", Line: 12, Service: "web", Key: "deploy.placement", Message: "not supported on Kubernetes; left out"}
	if got, want := w.String(), "compose.yaml:12: service web: deploy.placement: not supported on Kubernetes; left out"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
