package destination

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/translate"
)

// An update of an app that ferry's proxy routes (it has domains and
// publishes no host port) switches traffic instead of replacing the
// containers in place:
//
//  1. start the new containers beside the old ones (compose scales the
//     service to old+new with --no-recreate, so the old ones are left
//     alone and the new ones get the new configuration);
//  2. wait until the new ones are healthy, or running when they have no
//     health check; if they are not, remove them and fail, the old ones
//     still serving;
//  3. write the new containers' addresses into the service's upstream
//     files in the proxy's configuration directory (each by an atomic
//     rename): Caddy reads them on each request (see [siteFile]), so
//     new requests go to the new containers while requests in flight
//     finish on the old ones, and no configuration is reloaded; only
//     when the service's routes changed is its snippet installed and
//     Caddy reloaded;
//  4. wait [Docker.Drain], then stop the old containers with their stop
//     grace period and remove them.
//
// An app that publishes a host port cannot run twice (the port is
// taken): it is replaced in place, and the plan carries a warning.

// defaultDrain is how long the old containers keep serving requests in
// flight after the proxy switched, when [Docker.Drain] is zero.
const defaultDrain = 2 * time.Second

// switched reports whether an update of app switches traffic (true) or
// replaces its containers in place.
func switched(app *translate.App) bool {
	return len(app.Domains) > 0 && len(hostPorts(app)) == 0
}

// hostPorts lists the host ports app publishes.
func hostPorts(app *translate.App) []int {
	var ports []int
	for _, p := range app.Ports {
		if p.Host != 0 {
			ports = append(ports, p.Host)
		}
	}
	return ports
}

// inPlaceWarning is the plan's warning for an app that cannot be
// updated beside its old containers, or nil.
func inPlaceWarning(app *translate.App) *translate.Warning {
	ports := hostPorts(app)
	if len(ports) == 0 {
		return nil
	}
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return &translate.Warning{Service: app.Name, Key: "ports", Message: fmt.Sprintf(
		"publishes host port %s, so it cannot run twice: an update replaces it in place and requests fail while it restarts; route it through the proxy (domains, no host port) to update without dropping requests",
		strings.Join(s, ", "))}
}

// routesFile is the release file (relative to the app's directory)
// holding the Caddyfile snippet of a switched service's routes; the
// switch copies it into the proxy's sites directory. Being a file of
// the release, a rollback restores it with the others.
func routesFile(service string) string { return "routes/" + service + ".caddy" }

// upstreamsDir is the directory, inside the proxy's container, that
// holds one file per replica of a switched service, named 1, 2, ...,
// each holding the address of one of its containers.
func upstreamsDir(project, service string) string {
	return proxyUpstreamsDir + "/" + project + "." + service
}

// siteFile is the Caddyfile snippet of app's routes. The upstreams are
// not addresses but placeholders that Caddy replaces, on each request,
// with the content of the replica's file in [upstreamsDir]: the switch
// rewrites those files (each by an atomic rename) to send new requests
// to the new containers, so the snippet, and with it Caddy's
// configuration, stays the same from one update to the next. Caddy
// then never reloads for an update (a reload replaces its listening
// sockets, and Linux resets a connection caught in the queue of the one
// that closes); it reloads only when the snippet changes: a first
// deploy, or new domains, paths, ports or replica counts.
func siteFile(project string, app *translate.App) []byte {
	type route struct {
		path string
		port int
	}
	sites := map[string][]route{}
	for _, d := range app.Domains {
		site := d.Host
		if !d.TLS {
			site = "http://" + d.Host
		}
		port := d.Port
		if port == 0 {
			for _, p := range app.Ports {
				if p.Protocol == "" || p.Protocol == "tcp" {
					port = p.Container
					break
				}
			}
		}
		sites[site] = append(sites[site], route{d.Path, port})
	}
	dir := upstreamsDir(project, app.Name)
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by ferry: the routes of service %s of %s. Each upstream is\n", app.Name, project)
	fmt.Fprintf(&b, "# the address in a file of %s, which an update rewrites.\n", dir)
	for _, site := range sortedKeys(sites) {
		routes := sites[site]
		// Longer paths first, so that a prefix does not shadow them.
		sort.SliceStable(routes, func(i, j int) bool { return len(routes[i].path) > len(routes[j].path) })
		b.WriteString(site + " {\n")
		for _, r := range routes {
			b.WriteString("\treverse_proxy ")
			if r.path != "" && r.path != "/" {
				b.WriteString(strings.TrimSuffix(r.path, "/") + "* ")
			}
			for i := 1; i <= replicas(app); i++ {
				fmt.Fprintf(&b, "{file.%s/%d}:%d ", dir, i, r.port)
			}
			// A refused connection (a container going away) is tried
			// again, the address read anew, rather than failing the
			// request.
			b.WriteString("{\n\t\tlb_try_duration 5s\n\t}\n")
		}
		b.WriteString("}\n")
	}
	return []byte(b.String())
}

// replicas is the number of containers app runs.
func replicas(app *translate.App) int {
	if app.Replicas < 1 {
		return 1
	}
	return app.Replicas
}

// routeFiles are the release files of the routes of the services of s
// that switch (see [routesFile]).
func routeFiles(s *stackPlan, project string) []translate.File {
	var files []translate.File
	for _, a := range s.order {
		if switched(a) {
			files = append(files, translate.File{Path: routesFile(a.Name), Data: siteFile(project, a), Mode: 0o644})
		}
	}
	return files
}

// switchScript is the apply step of a switched app: see the top of this
// file. compose is the compose prelude (it sets "$@" and f).
func switchScript(compose, project, proxyName, network string, app *translate.App, drain, timeout time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "project=%s service=%s replicas=%d proxy_name=%s network=%s\n",
		quoted(project), quoted(app.Name), replicas(app), quoted(proxyName), quoted(network))
	fmt.Fprintf(&b, "routes=%s drain=%s timeout=%s\n", quoted(routesFile(app.Name)), seconds(drain), seconds(timeout))
	b.WriteString(compose)
	b.WriteString(switchFuncs)
	b.WriteString(waitHealthyFn)
	b.WriteString(switchBody)
	return b.String()
}

// switchFuncs are the switch script's helpers: ids of the service's
// containers, their names and addresses, the new containers' ids for
// [waitHealthyFn], and the switch of the proxy's routes.
const switchFuncs = `ids() {
  docker ps -aq --no-trunc --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=$service" | sort
}
names() {
  for id in "$@"; do docker inspect -f '{{.Name}}' "$id" | sed 's,^/,,'; done
}
addrs() { # the containers' addresses on the app's network
  for id in "$@"; do docker inspect -f "{{with index .NetworkSettings.Networks \"$network\"}}{{.IPAddress}}{{end}}" "$id"; done
}
new_ids() { printf '%s\n' $new; }
# route ADDR...: point the proxy's upstream files at the addresses and,
# when the routes changed, install them and reload Caddy. On failure it
# puts back what it changed and returns 1. (The shell's -e does not
# apply in a function called by if: each command is checked.)
route() {
  ups="$conf_dir/upstreams/$project.$service" conf="$conf_dir/sites/$project.$service.caddy" out=
  mkdir -p "$ups" "$conf_dir/sites" && rm -rf "$ups.previous" && cp -pR "$ups" "$ups.previous" || return 1
  i=0
  for a in "$@"; do
    i=$((i + 1))
    if ! { printf '%s\n' "$a" >"$ups/$i.tmp" && mv "$ups/$i.tmp" "$ups/$i"; }; then
      unroute
      return 1
    fi
  done
  if ! cmp -s "$routes" "$conf"; then
    if ! { { [ ! -f "$conf" ] || cp -p "$conf" "$conf.previous"; } && cp "$routes" "$conf.tmp" && mv "$conf.tmp" "$conf" &&
      out=$(docker exec "$proxy" caddy reload --config ` + proxyCaddyfile + ` --adapter caddyfile 2>&1); }; then
      printf '%s\n' "${out:-could not write $conf}" >&2
      if [ -f "$conf.previous" ]; then mv "$conf.previous" "$conf"; else rm -f "$conf"; fi
      unroute
      docker exec "$proxy" caddy reload --config ` + proxyCaddyfile + ` --adapter caddyfile >/dev/null 2>&1 || true
      return 1
    fi
    rm -f "$conf.previous"
    echo "proxy $proxy_name: routes of $service installed"
  fi
  # Files of replicas the service no longer has.
  for f in "$ups"/*; do
    n=${f##*/}
    case $n in *[!0-9]*) continue ;; esac
    [ "$n" -le "$i" ] || rm -f "$f"
  done
  rm -rf "$ups.previous"
}
# unroute puts the upstream files back as route found them (a rename
# each: it needs no free space).
unroute() {
  for f in "$ups.previous"/*; do
    [ ! -e "$f" ] || mv -f "$f" "$ups/"
  done
  rm -rf "$ups"/*.tmp "$ups.previous"
}
`

// switchBody runs the switch.
const switchBody = `old=$(ids)
# The service is up to date when it runs as many containers as it
# should, all running (and healthy, where they have a health check)
# from the configuration of this release: then only its routes are
# checked. A rollback after a failed switch goes through here.
uptodate=
if [ -n "$old" ] && [ "$(echo $old | wc -w)" -eq "$replicas" ]; then
  want=$("$@" -p "$project" -f "$f" config --hash "$service" 2>/dev/null | awk '{print $2}')
  have=$(for id in $old; do docker inspect -f '{{index .Config.Labels "com.docker.compose.config-hash"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}healthy{{end}}' "$id"; done | sort -u)
  [ -n "$want" ] && [ "$have" = "$want running healthy" ] && uptodate=1
fi
# discard removes the new containers after a failure.
discard() { [ -n "$uptodate" ] || docker rm -f $new >/dev/null; }
if [ -n "$uptodate" ]; then
  new=$old old=
  echo "$service is up to date:" $(names $new)
elif [ -n "$old" ]; then
  n=$(( $(printf '%s\n' $old | wc -l) + replicas ))
  "$@" -p "$project" -f "$f" up -d --no-recreate --scale "$service=$n" "$service"
  new=$(ids | grep -vxF "$old" || true)
else
  "$@" -p "$project" -f "$f" up -d "$service"
  new=$(ids)
fi
if [ -z "$new" ]; then
  echo "compose started no new container of $service" >&2
  exit 1
fi
new_names=$(names $new)
if [ -z "$uptodate" ]; then
  echo "started beside the old containers:" $new_names
  if ! wait_healthy new_ids "the new containers of $service"; then
    discard
    echo "removed the new containers:" $new_names "; the old ones keep serving" >&2
    exit 1
  fi
  echo "healthy:" $new_names
fi
# The proxy dials the containers' addresses, which need no DNS lookup.
new_addrs=$(addrs $new)
if [ "$(echo $new_addrs | wc -w)" -ne "$(echo $new | wc -w)" ]; then
  discard
  echo "some new containers have no address on network $network:" $new_names >&2
  exit 1
fi
` + proxyFind + `if [ -n "$proxy" ]; then
  if ! docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "$proxy" | tr ' ' '\n' | grep -qxF "$network"; then
    docker network connect "$network" "$proxy"
    echo "proxy $proxy_name joined network $network"
  fi
  conf_dir=$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "` + proxyConfDir + `"}}{{.Source}}{{end}}{{end}}' "$proxy")
  if [ -z "$conf_dir" ]; then
    discard
    echo "proxy $proxy_name has no ` + proxyConfDir + ` mount" >&2
    exit 1
  fi
  if ! route $new_addrs; then
    discard
    echo "the proxy refused the new routes; removed the new containers, the old ones keep serving" >&2
    exit 1
  fi
  echo "proxy $proxy_name: requests go to" $new_names
else
  echo "no ferry proxy named $proxy_name runs on this host: the app is routed by its labels only"
fi
if [ -n "$old" ]; then
  sleep "$drain"
  old_names=$(names $old)
  docker stop $old >/dev/null
  docker rm $old >/dev/null
  echo "stopped and removed the old containers:" $old_names
fi
`

// routedStack returns s with the [RoutedByLabel] of proxyName on the
// services that have domains, so that the proxy joins their network.
func routedStack(s *stackPlan, proxyName string) *stackPlan {
	proxyName = orDefaultProxy(proxyName)
	routed := map[*translate.App]*translate.App{}
	route := func(app *translate.App) *translate.App {
		if app == nil || len(app.Domains) == 0 {
			return app
		}
		if r, ok := routed[app]; ok {
			return r
		}
		a := *app
		a.Labels = make(map[string]string, len(app.Labels)+1)
		for k, v := range app.Labels {
			a.Labels[k] = v
		}
		a.Labels[RoutedByLabel] = proxyName
		routed[app] = &a
		return &a
	}
	cp := *s
	st := *s.Stack
	cp.Stack = &st
	st.Services = make([]*translate.App, len(s.Services))
	for i, app := range s.Services {
		st.Services[i] = route(app)
	}
	cp.order = make([]*translate.App, len(s.order))
	for i, app := range s.order {
		cp.order[i] = route(app)
	}
	return &cp
}

// inPlaceWarnings are the plan's warnings for the services that cannot
// be updated beside their old containers.
func inPlaceWarnings(s *stackPlan) []translate.Warning {
	var out []translate.Warning
	for _, a := range s.order {
		if w := inPlaceWarning(a); w != nil {
			out = append(out, *w)
		}
	}
	return out
}

// applySteps are the Docker target's apply steps. When no service
// switches: one compose up. Otherwise one step per service in
// dependency order, the switch for the services the proxy routes and
// compose up in place for the others, then the removal of services the
// stack no longer has. Each step's compose up names its service, so
// Compose still waits for the service's dependencies (started, healthy
// or completed, as depends_on says); they are converged already, by the
// steps before, so it changes nothing of them.
func (d Docker) applySteps(s *stackPlan, c *composePlan, compose, up string) []executor.Step {
	n := 0
	for _, a := range s.order {
		if switched(a) {
			n++
		}
	}
	if n == 0 {
		return []executor.Step{{Name: "compose up", Script: compose + up}}
	}
	drain := d.Drain
	if drain <= 0 {
		drain = defaultDrain
	}
	proxyName := orDefaultProxy(d.ProxyName)
	var steps []executor.Step
	for _, a := range s.order {
		if !switched(a) {
			steps = append(steps, executor.Step{Name: "service " + a.Name + ": compose up in place",
				Script: compose + `"$@" -p ` + quoted(c.project) + ` -f "$f" up -d ` + quoted(a.Name) + "\n"})
			continue
		}
		steps = append(steps, executor.Step{
			Name:    "service " + a.Name + ": start new containers beside the old ones, switch the proxy to them, stop the old ones",
			Script:  switchScript(compose, c.project, proxyName, c.network, a, drain, c.timeout),
			Timeout: c.timeout + drain + 2*time.Minute,
		})
	}
	return append(steps, executor.Step{Name: "remove services the stack no longer has",
		Script: compose + `"$@" -p ` + quoted(c.project) + ` -f "$f" up -d --no-recreate --remove-orphans` + "\n"})
}

// orDefaultProxy is name, or [DefaultProxyName] when it is empty.
func orDefaultProxy(name string) string {
	if name == "" {
		return DefaultProxyName
	}
	return name
}

// unrouteStep removes the routes of project's services from the proxy
// named proxyName, when it runs and has any, so that it stops sending
// requests to containers about to go.
func unrouteStep(project, proxyName string) executor.Step {
	return executor.Step{Name: "remove the routes from the proxy", Script: "project=" + quoted(project) +
		" proxy_name=" + quoted(proxyName) + "\n" + proxyFind + `[ -n "$proxy" ] || { echo "no proxy $proxy_name runs: no routes to remove"; exit 0; }
conf_dir=$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "` + proxyConfDir + `"}}{{.Source}}{{end}}{{end}}' "$proxy")
set -- "$conf_dir/sites/$project".*.caddy
[ -n "$conf_dir" ] && [ -f "$1" ] || { echo "proxy $proxy_name has no routes of $project"; exit 0; }
rm -f "$@"
docker exec "$proxy" caddy reload --config ` + proxyCaddyfile + ` --adapter caddyfile >/dev/null
rm -rf "$conf_dir/upstreams/$project".*
echo "proxy $proxy_name: removed the routes of $project"
`}
}
