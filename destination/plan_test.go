package destination

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhq/ferry/translate"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func sampleApp() *translate.App {
	return &translate.App{
		Name:    "web",
		Image:   "ferry-webapp:v1",
		Ports:   []translate.Port{{Container: 8080, Host: 18080}},
		Env:     map[string]string{"MESSAGE": "hello"},
		Secrets: []translate.Secret{{Name: "token", Value: "s3cr3t-value", Env: "TOKEN"}},
		Health:  &translate.Health{Command: []string{"/webapp", "-healthcheck", "http://127.0.0.1:8080/healthz"}},
	}
}

// sampleStack is web -> api -> db: depends_on with service_healthy, a
// named volume, a secret file and a domain.
func sampleStack() *translate.Stack {
	health := &translate.Health{Command: []string{"/webapp", "-healthcheck", "/healthz"}}
	return &translate.Stack{
		Name: "shop",
		Services: []*translate.App{
			{
				Name: "web", Image: "ferry-webapp:v1",
				Ports:     []translate.Port{{Container: 8080}},
				Domains:   []translate.Domain{{Host: "shop.example.com"}},
				Env:       map[string]string{"API": "http://api:8080/"},
				Health:    health,
				DependsOn: []translate.Dependency{{Service: "api", Condition: translate.ConditionHealthy}},
			},
			{
				Name: "api", Image: "ferry-webapp:v1",
				Ports:     []translate.Port{{Container: 8080}},
				Secrets:   []translate.Secret{{Name: "token", Value: "api-token-value", File: "/run/secrets/token"}},
				Health:    health,
				DependsOn: []translate.Dependency{{Service: "db", Condition: translate.ConditionHealthy}},
			},
			{
				Name: "db", Image: "ferry-webapp:v1",
				Ports:   []translate.Port{{Container: 8080}},
				Volumes: []translate.Volume{{Name: "data", Target: "/data"}},
				Secrets: []translate.Secret{{Name: "token", Value: "db-token-value", Env: "TOKEN"}},
				Health:  health,
			},
		},
		Warnings: []translate.Warning{{File: "compose.yaml", Line: 7, Service: "web", Key: "ports[0].host_ip", Message: "left out"}},
	}
}

func TestStackPlanGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target Target
	}{
		{"stack-docker", Docker{Dir: "/srv/ferry"}},
		{"stack-swarm", Swarm{Dir: "/srv/ferry"}},
		{"stack-kubernetes", Kubernetes{Namespace: "shop", CreateNamespace: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := tc.target.PlanStack(sampleStack())
			if err != nil {
				t.Fatal(err)
			}
			got := plan.String()
			for _, f := range plan.Files {
				if !f.Secret {
					got += "\n--- " + f.Path + "\n" + string(f.Data)
				}
			}
			checkGolden(t, tc.name, got)
		})
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", golden, diff)
	}
}

func TestPlanGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target Target
	}{
		{"docker", Docker{Dir: "/srv/ferry", Network: "edge", Timeout: 90e9}},
		{"docker-v1", Docker{ComposeCommand: []string{"docker-compose"}}},
		{"swarm", Swarm{Dir: "/srv/ferry"}},
		{"kubernetes", Kubernetes{Kubeconfig: "/etc/ferry/kubeconfig", Context: "prod", Namespace: "shop", CreateNamespace: true, IngressClass: "nginx"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := tc.target.Plan(sampleApp())
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.name, plan.String())
		})
	}
}
