package translate_test

// Tests that hand every translation in testdata and examples/apps to the
// real tools: Docker Compose ("config" validates against the Compose
// specification without an engine) and a kube-apiserver (server-side dry
// run). Without the tools they skip; .ci/run requires them.

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

type validationCase struct {
	name  string
	app   *translate.App
	copts []translate.ComposeOption
	kopts []translate.KubernetesOption
}

// validationCases returns every app of testdata and examples/apps with
// the options its golden test uses.
func validationCases(t *testing.T) []validationCase {
	t.Helper()
	var cases []validationCase
	ins, _ := filepath.Glob("testdata/*.app.yaml")
	examples, _ := filepath.Glob("../examples/apps/*.yaml")
	for _, in := range append(ins, examples...) {
		app, err := translate.Load(in)
		if err != nil {
			t.Fatal(err)
		}
		copts, kopts := caseOptions(t, in)
		cases = append(cases, validationCase{name: in, app: app, copts: copts, kopts: kopts})
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	return cases
}

// writeFiles writes what ToCompose returned into dir, as a deploy would.
func writeFiles(t *testing.T, dir string, files []translate.File) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			t.Fatal(err)
		}
	}
}

func TestComposeConfig(t *testing.T) {
	compose := strings.Fields(testenv.Compose(t))
	v2 := len(compose) == 2
	for _, c := range validationCases(t) {
		t.Run(c.name, func(t *testing.T) {
			files, err := translate.ToCompose(c.app, c.copts...)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if !v2 {
				// Compose v1 predates the top-level "name"; everything
				// else must pass it too.
				_, rest, _ := bytes.Cut(files[0].Data, []byte("\n"))
				files[0].Data = rest
			}
			writeFiles(t, dir, files)
			args := append(compose[1:], "-f", filepath.Join(dir, "compose.yaml"), "config")
			if v2 {
				args = append(args, "--format", "json")
			}
			cmd := exec.Command(compose[0], args...)
			cmd.Dir = dir
			// The test's environment stays (docker needs DOCKER_CONFIG and
			// friends): every "$" is escaped, so none of it may leak into
			// the file; checkComposeEnv proves it. Compose's own settings go.
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "COMPOSE_") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			if os.Getenv("DOCKER_CONFIG") == "" {
				// HOME goes away below; keep docker's plugins in sight.
				if home, err := os.UserHomeDir(); err == nil {
					cmd.Env = append(cmd.Env, "DOCKER_CONFIG="+filepath.Join(home, ".docker"))
				}
			}
			cmd.Env = append(cmd.Env, "HOME=/nonexistent-home", "PATH_TEST=leak", "X=leak", "VAR=leak", "e=leak")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s config: %v\n%s\n--- compose.yaml:\n%s", strings.Join(compose, " "), err, stderr.Bytes(), files[0].Data)
			}
			if v2 {
				checkComposeEnv(t, c.app, out)
			}
		})
	}
}

// checkComposeEnv checks that Compose, after interpolation and reading
// the env_file, sees exactly the app's env and secret values.
func checkComposeEnv(t *testing.T, app *translate.App, out []byte) {
	t.Helper()
	var cfg struct {
		Services map[string]struct {
			Environment map[string]*string `json:"environment"`
			Entrypoint  []string           `json:"entrypoint"`
			Command     []string           `json:"command"`
		} `json:"services"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("compose config output: %v", err)
	}
	svc, ok := cfg.Services[app.Name]
	if !ok {
		t.Fatalf("service %q missing from config output", app.Name)
	}
	// The output of "config" is itself a compose file: after interpolating
	// it writes every "$" as "$$" again.
	unescape := func(s string) string { return strings.ReplaceAll(s, "$$", "$") }
	for k, v := range svc.Environment {
		if v != nil {
			u := unescape(*v)
			svc.Environment[k] = &u
		}
	}
	for i := range svc.Entrypoint {
		svc.Entrypoint[i] = unescape(svc.Entrypoint[i])
	}
	for i := range svc.Command {
		svc.Command[i] = unescape(svc.Command[i])
	}
	want := map[string]string{}
	for k, v := range app.Env {
		want[k] = v
	}
	for _, s := range app.Secrets {
		if s.Env != "" {
			want[s.Env] = s.Value
		}
	}
	for k, v := range want {
		got := svc.Environment[k]
		if got == nil || *got != v {
			t.Errorf("environment %s: Compose reads %q, want %q", k, deref(got), v)
		}
	}
	if len(svc.Environment) != len(want) {
		t.Errorf("environment has %d variables, want %d", len(svc.Environment), len(want))
	}
	if app.Command != nil && strings.Join(svc.Entrypoint, "\x00") != strings.Join(app.Command, "\x00") {
		t.Errorf("entrypoint: Compose reads %q, want %q", svc.Entrypoint, app.Command)
	}
	if app.Args != nil && strings.Join(svc.Command, "\x00") != strings.Join(app.Args, "\x00") {
		t.Errorf("command: Compose reads %q, want %q", svc.Command, app.Args)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return *s
}

func kubectl(t *testing.T, kubeconfig string, stdin []byte, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command("kubectl", args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdin = bytes.NewReader(stdin)
	return cmd.CombinedOutput()
}

func TestKubernetesDryRun(t *testing.T) {
	kubeconfig := testenv.Kubeconfig(t)
	// Namespaced objects are dry-run into a namespace that exists for real.
	ns := testenv.Namespace(t, kubeconfig)
	for _, c := range validationCases(t) {
		t.Run(c.name, func(t *testing.T) {
			opts := append(append([]translate.KubernetesOption(nil), c.kopts...), translate.WithNamespace(ns))
			manifests, err := translate.ToKubernetes(c.app, opts...)
			if err != nil {
				t.Fatal(err)
			}
			out, err := kubectl(t, kubeconfig, manifests, "apply", "--server-side", "--dry-run=server",
				"--validate=strict", "--field-manager=ferry-test", "-f", "-")
			if err != nil {
				t.Fatalf("kubectl apply --dry-run=server: %v\n%s\n--- manifests:\n%s", err, out, manifests)
			}
			t.Logf("%s", out)
		})
	}
}

// TestKubernetesRollout applies samples for real and waits for their
// rollouts (the test cluster's fake node makes pods Ready, and its default
// StorageClass binds claims). Changing only an env value must roll the
// pods: the config checksum annotation changes the pod template.
func TestKubernetesRollout(t *testing.T) {
	kubeconfig := testenv.Kubeconfig(t)
	ns := testenv.Namespace(t, kubeconfig)
	apply := func(app *translate.App) {
		t.Helper()
		manifests, err := translate.ToKubernetes(app, translate.WithNamespace(ns))
		if err != nil {
			t.Fatal(err)
		}
		if out, err := kubectl(t, kubeconfig, manifests, "apply", "--server-side", "--field-manager=ferry-test", "-f", "-"); err != nil {
			t.Fatalf("apply %s: %v\n%s", app.Name, err, out)
		}
	}
	rollout := func(workload string) {
		t.Helper()
		if out, err := kubectl(t, kubeconfig, nil, "-n", ns, "rollout", "status", workload, "--timeout=120s"); err != nil {
			t.Fatalf("rollout status %s: %v\n%s", workload, err, out)
		}
	}
	web, err := translate.Load("../examples/apps/web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	web.Env = map[string]string{"GREETING": "hello"}
	apply(web)
	db, err := translate.Load("../examples/apps/db.yaml")
	if err != nil {
		t.Fatal(err)
	}
	apply(db)
	rollout("deployment/web")
	rollout("statefulset/db")

	web.Env["GREETING"] = "hello again"
	apply(web)
	out, err := kubectl(t, kubeconfig, nil, "-n", ns, "get", "deployment", "web", "-o", "jsonpath={.metadata.generation}")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if string(out) != "2" {
		t.Errorf("after an env change the Deployment's generation is %s, want 2 (pods not rolled)", out)
	}
	rollout("deployment/web")
}
