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
//  3. write the app's routes to the new containers into the proxy's
//     sites directory and reload Caddy, which sends new requests to them
//     while requests in flight finish on the old ones;
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

// siteLines is the app's Caddyfile snippet, as lines for the shell's
// printf: literal text quoted, with "$(ups PORT)" where the upstreams
// of a container port go (the new containers' addresses on the app's
// network, with the port).
func siteLines(app *translate.App) []string {
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
	var lines []string
	for _, site := range sortedKeys(sites) {
		routes := sites[site]
		// Longer paths first, so that a prefix does not shadow them.
		sort.SliceStable(routes, func(i, j int) bool { return len(routes[i].path) > len(routes[j].path) })
		lines = append(lines, quoted(site+" {"))
		for _, r := range routes {
			matcher := ""
			if r.path != "" && r.path != "/" {
				matcher = strings.TrimSuffix(r.path, "/") + "* "
			}
			lines = append(lines,
				quoted("\treverse_proxy "+matcher)+`"$(ups `+strconv.Itoa(r.port)+`)"`+quoted(" {"),
				// A refused connection (a container going away) is tried
				// again on another upstream rather than failing the
				// request.
				quoted("\t\tlb_try_duration 5s"),
				quoted("\t}"))
		}
		lines = append(lines, quoted("}"))
	}
	return lines
}

// switchScript is the apply step of a switched app: see the top of this
// file. compose is the compose prelude (it sets "$@" and f).
func switchScript(compose, project, proxyName, network string, app *translate.App, drain, timeout time.Duration) string {
	replicas := app.Replicas
	if replicas < 1 {
		replicas = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, "project=%s service=%s replicas=%d proxy_name=%s network=%s\n",
		quoted(project), quoted(app.Name), replicas, quoted(proxyName), quoted(network))
	fmt.Fprintf(&b, "drain=%s timeout=%s\n", seconds(drain), seconds(timeout))
	b.WriteString(compose)
	b.WriteString(switchFuncs)
	b.WriteString(waitHealthyFn)
	b.WriteString("site() {\n  printf '%s\\n' \\\n")
	for _, l := range siteLines(app) {
		b.WriteString("    " + l + " \\\n")
	}
	b.WriteString("    ''\n}\n")
	b.WriteString(switchBody)
	return b.String()
}

// switchFuncs are the switch script's helpers: ids of the service's
// containers, their names, the upstreams for a port, and the new
// containers' ids for [waitHealthyFn].
const switchFuncs = `ids() {
  docker ps -aq --no-trunc --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=$service" | sort
}
names() {
  for id in "$@"; do docker inspect -f '{{.Name}}' "$id" | sed 's,^/,,'; done
}
addrs() { # the containers' addresses on the app's network
  for id in "$@"; do docker inspect -f "{{with index .NetworkSettings.Networks \"$network\"}}{{.IPAddress}}{{end}}" "$id"; done
}
ups() {
  for a in $new_addrs; do printf '%s:%s ' "$a" "$1"; done
}
new_ids() { printf '%s\n' $new; }
`

// switchBody runs the switch.
const switchBody = `old=$(ids)
if [ -n "$old" ]; then
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
echo "started beside the old containers:" $new_names
if ! wait_healthy new_ids "the new containers of $service"; then
  docker rm -f $new >/dev/null
  echo "removed the new containers:" $new_names "; the old ones keep serving" >&2
  exit 1
fi
echo "healthy:" $new_names
# The proxy dials the containers' addresses, which need no DNS lookup.
new_addrs=$(addrs $new)
if [ "$(echo $new_addrs | wc -w)" -ne "$(echo $new | wc -w)" ]; then
  docker rm -f $new >/dev/null
  echo "some new containers have no address on network $network:" $new_names >&2
  exit 1
fi
proxy=$(docker ps -q --filter "label=` + ProxyLabel + `=$proxy_name" | head -n 1)
if [ -n "$proxy" ]; then
  if ! docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "$proxy" | tr ' ' '\n' | grep -qxF "$network"; then
    docker network connect "$network" "$proxy"
    echo "proxy $proxy_name joined network $network"
  fi
  conf_dir=$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "` + proxyConfDir + `"}}{{.Source}}{{end}}{{end}}' "$proxy")
  if [ -z "$conf_dir" ]; then
    docker rm -f $new >/dev/null
    echo "proxy $proxy_name has no ` + proxyConfDir + ` mount" >&2
    exit 1
  fi
  mkdir -p "$conf_dir/sites"
  conf="$conf_dir/sites/$project.$service.caddy"
  [ -f "$conf" ] && cp -p "$conf" "$conf.previous"
  site >"$conf.tmp" && mv "$conf.tmp" "$conf"
  if ! out=$(docker exec "$proxy" caddy reload --config ` + proxyCaddyfile + ` --adapter caddyfile 2>&1); then
    printf '%s\n' "$out" >&2
    if [ -f "$conf.previous" ]; then mv "$conf.previous" "$conf"; else rm -f "$conf"; fi
    docker exec "$proxy" caddy reload --config ` + proxyCaddyfile + ` --adapter caddyfile >/dev/null 2>&1 || true
    docker rm -f $new >/dev/null
    echo "the proxy refused the new routes; removed the new containers, the old ones keep serving" >&2
    exit 1
  fi
  rm -f "$conf.previous"
  echo "proxy $proxy_name: routes switched to" $new_names
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
	if proxyName == "" {
		proxyName = DefaultProxyName
	}
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
	cp.recheck = s.recheck || len(routed) > 0 && !isLabelValue(proxyName)
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
	proxyName := d.ProxyName
	if proxyName == "" {
		proxyName = DefaultProxyName
	}
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
