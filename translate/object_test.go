package translate_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/translate"
)

// TestKubernetesObjects checks the objects as data against the YAML they
// carry, and that Manifest of them is what ToKubernetes prints.
func TestKubernetesObjects(t *testing.T) {
	app, err := translate.Load("testdata/shop.app.yaml")
	if err != nil {
		t.Fatal(err)
	}
	opts := []translate.KubernetesOption{translate.WithNamespace("apps"), translate.WithCreateNamespace(true)}
	objs, err := translate.KubernetesObjects(app, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, fmt.Sprintf("%s %s %s/%s service=%s secret=%v workload=%v group=%q",
			o.APIVersion, o.Kind, o.Namespace, o.Name, o.Service, o.Secret, o.Workload(), o.Group()))
		head := fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata:\n  name: %s\n", o.APIVersion, o.Kind, o.Name)
		if !strings.HasPrefix(string(o.YAML), head) {
			t.Errorf("%s %s: YAML does not start with\n%s\ngot\n%s", o.Kind, o.Name, head, o.YAML)
		}
		if bytes.Contains(o.YAML, []byte("\n---")) {
			t.Errorf("%s %s: YAML holds a separator", o.Kind, o.Name)
		}
	}
	want := []string{
		`v1 Namespace /apps service= secret=false workload=false group=""`,
		`v1 ConfigMap apps/shop-env service=shop secret=false workload=false group=""`,
		`v1 Secret apps/shop-secrets service=shop secret=true workload=false group=""`,
		`v1 PersistentVolumeClaim apps/shop-uploads service=shop secret=false workload=false group=""`,
		`apps/v1 Deployment apps/shop service=shop secret=false workload=true group="apps"`,
		`v1 Service apps/shop service=shop secret=false workload=false group=""`,
		`v1 Service apps/catalog service=shop secret=false workload=false group=""`,
		`v1 Service apps/store service=shop secret=false workload=false group=""`,
		`v1 Service apps/shop-published service=shop secret=false workload=false group=""`,
		`networking.k8s.io/v1 Ingress apps/shop service=shop secret=false workload=false group="networking.k8s.io"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("objects:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !translate.HasSecret(objs) || translate.HasSecret(objs[:1]) {
		t.Error("HasSecret is wrong")
	}
	stream, err := translate.ToKubernetes(app, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(translate.Manifest(objs), stream) {
		t.Error("Manifest(KubernetesObjects) differs from ToKubernetes")
	}
	if len(translate.Manifest(nil)) != 0 {
		t.Error("Manifest(nil) is not empty")
	}
}
