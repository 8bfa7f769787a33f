// Package translate turns an application spec, one app or a [Stack] of
// services, into a Docker Compose project or Kubernetes objects. It is
// pure: apart from [Load] and [LoadStack] reading a file it does no I/O,
// and the same input always gives the same bytes.
//
// An [App] is what a user of a hosting platform sets: image, command,
// ports, domains, env, secrets, volumes, health check, replicas,
// resources and a few run-time settings. Read one with [Load] or [Parse],
// or build one in Go, then translate it:
//
//	app, err := translate.Load("app.yaml")
//	files, err := translate.ToCompose(app, translate.WithNetwork("ferry"))
//	objects, err := translate.KubernetesObjects(app, translate.WithNamespace("shop"))
//	manifest := translate.Manifest(objects) // or translate.ToKubernetes
//
// A stack of several services is read with [LoadStack] (ferry's spec with
// a top-level services list or map; a single-app file is a stack of one)
// or from compose files by package translate/compose, and translated with
// [StackToCompose] and [StackObjects]. Each target has its own option
// type, [ComposeOption] and [KubernetesOption].
//
// # Validation
//
// [App.Validate] reports every problem at once, each with its field path,
// as a [*ValidationError]:
//
//	name: "Web" is not a DNS-1035 label (...)
//	ports[1].container: 70000 is not a port (1-65535)
//
// Names follow the Kubernetes rules (DNS-1123 and DNS-1035 labels, label
// keys and values, 15-character port names) even for Compose, so a spec
// that works on one target works on the other. Memory and CPU amounts are
// parsed exactly ([ParseBytes], [ParseCPU]); units that Compose and
// Kubernetes read differently, such as "512M", are refused.
//
// # The spec format
//
// The YAML keys are the yaml tags of [App] and the types it holds.
// Durations are Go durations ("10s", "1m30s") in whole seconds. Values
// are literal: the translators escape "$" for Compose ("$$") and
// "$(VAR)" for Kubernetes ("$$(VAR)"), so nothing is interpolated.
//
// # Compose
//
// [ToCompose] returns compose.yaml and its side files: secrets given as
// environment variables go to a 0600 env file, secrets given as files to
// 0600 files used as compose secrets. Write them all into one directory.
// The service joins an external network ([WithNetwork]); domains become
// Traefik router labels, or caddy-docker-proxy labels ([WithProxy]).
//
// # Kubernetes
//
// [KubernetesObjects] returns the objects as data ([Object]: kind, name,
// namespace, service, whether it holds secrets, and its YAML), in a fixed
// order: Namespace, ConfigMaps, Secret, PersistentVolumeClaims,
// Deployment or StatefulSet, Services, Ingress; [Manifest] joins them
// into one YAML stream, which [ToKubernetes] returns. Every object carries [LabelManagedBy]
// and [LabelInstance], so a deploy can apply with a label selector and
// prune what the app no longer has. The pod template carries
// [ConfigHashAnnotation], so a change of env or secrets rolls the pods.
// The package writes plain YAML and needs no Kubernetes client library.
package translate
