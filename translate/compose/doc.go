// Package compose loads Docker Compose files into a [translate.Stack],
// exactly as Docker Compose loads them: it uses the loader Docker Compose
// itself uses (github.com/compose-spec/compose-go/v2). It lives apart
// from package translate so that programs that never read compose files
// do not link that loader.
//
// [Load] reads one or more compose files, merged in order as `docker
// compose -f a.yaml -f b.yaml` merges them, with the project's .env file
// and the process environment for interpolation, env_file, extends,
// include, profiles, YAML anchors and x- extension fields. The result
// carries two views of the same project:
//
//   - Stack.Compose, the normalized project as `docker compose config`
//     prints it, which a Docker target deploys as it is: nothing is lost.
//   - Stack.Services, each compose service mapped to a [translate.App],
//     which [translate.StackObjects] turns into Kubernetes objects.
//
// Whatever a service sets that the App model (and so the Kubernetes
// translation) cannot express becomes a [translate.Warning] naming the
// file, line, service and key; nothing is dropped silently. With
// [Options.Strict] any warning is an error instead.
//
// # Mapping to Kubernetes
//
// image, entrypoint and command, environment (env_file included),
// ports and expose, healthcheck (probes), deploy.replicas and
// deploy.resources (and mem_limit, cpus, mem_reservation), labels (only
// those that are valid Kubernetes labels), user (numeric), working_dir,
// read_only, privileged, cap_add and cap_drop, hostname,
// stop_grace_period, restart ("always" and "unless-stopped"), named
// volumes (PersistentVolumeClaims), bind mounts (hostPath, with a
// warning), tmpfs (Memory emptyDir), configs and secrets with a file or
// content (ConfigMaps and Secrets mounted at their targets), depends_on,
// and network aliases (extra Services).
//
// Traefik router labels (traefik.http.routers.<r>.rule with Host(...)
// and PathPrefix(...), tls, tls.certresolver, and the service's
// loadbalancer.server.port) and caddy-docker-proxy labels (caddy,
// caddy.reverse_proxy with {{upstreams PORT}}) become the App's Domains,
// so an Ingress on Kubernetes.
//
// Every service that declares ports or expose gets a Service named after
// it, so other services reach it by the name they use in Compose. A
// service that declares neither but whose health check talks to a local
// port (localhost:PORT, 127.0.0.1:PORT) is given that port; a service
// with no port at all gets no Service, with a warning. A service with
// build: gets a [translate.Build] (ferry builds it on the host) and, with
// no image, Compose's own image name, "<project>-<service>".
// A service with replicas > 1 and a named volume becomes a StatefulSet,
// so that each replica gets its own claim (with a warning: in Compose
// the replicas share the volume).
package compose
