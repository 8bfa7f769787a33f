//go:build tools

// Package k8s only pins the Kubernetes commands (control plane, and kubectl
// for machines without one) that
// .ci/tools builds with "go build -o DIR <package>"; it is never compiled.
package k8s

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
