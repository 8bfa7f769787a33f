package destination_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

// TestBuildKubernetes builds an app on the kubectl host (over real sshd),
// pushes it to the private test registry, and deploys it to the test
// cluster: the Deployment runs the pushed image by digest, the registry
// holds that digest, and the pods reference the image pull Secret. The
// same content again builds nothing and rolls nothing out.
func TestBuildKubernetes(t *testing.T) {
	reg := testenv.Registry(t)
	testenv.WebappImage(t)
	e := newKubeEnv(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": dockerfile("built for kubernetes"), "keep.txt": "k"})
	repo := reg.Addr + "/" + e.ns + "/web"
	app := kubeApp(repo)
	app.Build = &translate.Build{Context: dir}
	removeImages(t, repo, "")
	opts := &destination.Options{Registries: []destination.Credentials{{Registry: reg.Addr, User: reg.User, Password: reg.Password}}}
	deploy := func() *destination.Report {
		t.Helper()
		plan, err := e.target.Plan(app)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		rep, err := destination.Deploy(ctx, e.ex, plan, opts)
		if err != nil {
			t.Fatalf("deploy: %v\n%s", err, rep)
		}
		return rep
	}

	rep := deploy()
	if !built(rep) {
		t.Errorf("no build step\n%s", rep)
	}
	image := e.kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
	digest, ok := strings.CutPrefix(image, repo+"@")
	if !ok || !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("Deployment image = %q, want %s@sha256:...", image, repo)
	}
	req, _ := http.NewRequest(http.MethodHead, "http://"+reg.Addr+"/v2/"+e.ns+"/web/manifests/"+digest, nil)
	req.SetBasicAuth(reg.User, reg.Password)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("registry has no manifest %s: %s", digest, resp.Status)
	}
	if got := e.kubectl("get", "secret", "ferry-registry-web", "-o", "jsonpath={.type}"); got != "kubernetes.io/dockerconfigjson" {
		t.Errorf("pull secret type = %q", got)
	}
	if got := e.kubectl("get", "pods", "-l", "app.kubernetes.io/instance=web", "-o", "jsonpath={.items[*].spec.imagePullSecrets[*].name}"); !strings.Contains(got, "ferry-registry-web") {
		t.Errorf("pods' imagePullSecrets = %q, want ferry-registry-web", got)
	}
	if strings.Contains(rep.String(), reg.Password) {
		t.Errorf("the report shows the password")
	}

	rsBefore := e.replicaSets()
	if rep = deploy(); built(rep) {
		t.Errorf("unchanged redeploy built again")
	}
	if rsAfter := e.replicaSets(); strings.Join(rsAfter, ",") != strings.Join(rsBefore, ",") {
		t.Errorf("unchanged redeploy rolled out: %v -> %v", rsBefore, rsAfter)
	}
}

// TestKubernetesPrivateImage deploys an image of the private registry,
// not built, to Kubernetes: the credentials become the image pull Secret
// the pods reference, and the kubectl host needs no Docker engine for it
// (DOCKER_HOST points nowhere here).
func TestKubernetesPrivateImage(t *testing.T) {
	reg := testenv.Registry(t)
	e := newKubeEnv(t)
	ex := withEnv{Executor: e.ex, env: []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}}
	app := kubeApp(reg.Addr + "/" + e.ns + "/web:1")
	plan, err := e.target.Plan(app)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	opts := &destination.Options{Registries: []destination.Credentials{{Registry: reg.Addr, User: reg.User, Password: reg.Password}}}
	if rep, err := destination.Deploy(ctx, ex, plan, opts); err != nil {
		t.Fatalf("deploy: %v\n%s", err, rep)
	}
	if got := e.kubectl("get", "pods", "-l", "app.kubernetes.io/instance=web", "-o", "jsonpath={.items[*].spec.imagePullSecrets[*].name}"); !strings.Contains(got, "ferry-registry-web") {
		t.Errorf("pods' imagePullSecrets = %q, want ferry-registry-web", got)
	}
	data := e.kubectl("get", "secret", "ferry-registry-web", "-o", "jsonpath={.data.\\.dockerconfigjson}")
	cfg, err := base64.StdEncoding.DecodeString(data)
	if err != nil || !strings.Contains(string(cfg), reg.Addr) || !strings.Contains(string(cfg), reg.Password) {
		t.Errorf("pull secret holds %q (%v), want the registry's credentials", cfg, err)
	}
}
