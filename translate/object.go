package translate

import (
	"bytes"
	"strings"
)

// Object is one Kubernetes object of a translation, as data: what a
// deploy needs to know about it without parsing YAML, and the YAML
// itself.
type Object struct {
	// APIVersion and Kind are the object's type: "apps/v1" and
	// "Deployment".
	APIVersion, Kind string
	// Name is metadata.name.
	Name string
	// Namespace is metadata.namespace: the namespace set by
	// [WithNamespace], or empty when none was set and for cluster-scoped
	// objects (the Namespace itself).
	Namespace string
	// Service names the stack service (the [App]) the object belongs to;
	// empty for objects of the whole stack, such as the Namespace.
	Service string
	// Secret reports that YAML holds secret values (a Secret object):
	// never log or print it.
	Secret bool
	// YAML is the object as one YAML document, without a "---" separator.
	YAML []byte
}

// Group returns the API group of the object: "" for the core group
// ("v1"), "apps" for "apps/v1".
func (o Object) Group() string {
	group, _, ok := strings.Cut(o.APIVersion, "/")
	if !ok {
		return ""
	}
	return group
}

// Workload reports whether the object is a Deployment or StatefulSet,
// the objects whose rollout a deploy waits for.
func (o Object) Workload() bool {
	return o.Group() == "apps" && (o.Kind == "Deployment" || o.Kind == "StatefulSet")
}

// Manifest renders objs as one multi-document YAML stream, in order,
// documents separated by "---" lines: what `kubectl apply -f` reads. Nil
// or empty objs give an empty stream.
func Manifest(objs []Object) []byte {
	var b bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(o.YAML)
	}
	return b.Bytes()
}

// HasSecret reports whether any of objs holds secret values.
func HasSecret(objs []Object) bool {
	for _, o := range objs {
		if o.Secret {
			return true
		}
	}
	return false
}
