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
			got := plan.String()
			golden := filepath.Join("testdata", tc.name+".golden")
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
		})
	}
}
