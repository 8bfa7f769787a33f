package compose

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/ferryhq/ferry/translate"
)

var (
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	userRE      = regexp.MustCompile(`^[0-9]{1,10}(:[0-9]{1,10})?$`)
	portNameRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	localPortRE = regexp.MustCompile(`(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\]):([0-9]{1,5})\b`)
)

// maxPorts bounds the ports of one service: a Service with more is too
// large for the cluster to store, and compose ranges expand quickly.
const maxPorts = 1000

// addPort adds a container port unless it is there; it reports whether
// it added it.
func (s *svcMap) addPort(p translate.Port) bool {
	if p.Protocol == "tcp" {
		p.Protocol = ""
	}
	key := strconv.Itoa(p.Container) + "/" + p.Protocol
	if s.portIndex == nil {
		s.portIndex = map[string]int{}
	}
	if i, ok := s.portIndex[key]; ok {
		if s.app.Ports[i].Host == 0 && p.Host != 0 {
			s.app.Ports[i].Host = p.Host
		}
		return false
	}
	if len(s.app.Ports) >= maxPorts {
		if !s.tooManyPorts {
			s.tooManyPorts = true
			s.warn([]string{"ports"}, "more than %d ports: the others are left out on Kubernetes", maxPorts)
		}
		return false
	}
	s.portIndex[key] = len(s.app.Ports)
	s.app.Ports = append(s.app.Ports, p)
	return true
}

// ports maps ports (published, or not) and expose.
func (s *svcMap) ports() {
	for i, pc := range s.svc.Ports {
		path := []string{"ports", strconv.Itoa(i)}
		proto := strings.ToLower(pc.Protocol)
		if proto != "" && proto != "tcp" && proto != "udp" {
			s.warn(append(path, "protocol"), "%q is not tcp or udp: port left out", pc.Protocol)
			continue
		}
		p := translate.Port{Container: int(pc.Target), Protocol: proto}
		if pc.Published != "" {
			host, err := strconv.Atoi(pc.Published)
			if err != nil || host < 1 || host > 65535 {
				s.warn(append(path, "published"), "%q is not one port: the port is not published on Kubernetes", pc.Published)
			} else {
				p.Host = host
			}
		}
		if pc.HostIP != "" {
			s.warn(append(path, "host_ip"), "%s", notTranslated)
		}
		if pc.Name != "" && len(pc.Name) <= 15 && portNameRE.MatchString(pc.Name) && !strings.Contains(pc.Name, "--") && strings.ContainsAny(pc.Name, "abcdefghijklmnopqrstuvwxyz") {
			p.Name = pc.Name
		}
		if p.Container < 1 || p.Container > 65535 {
			s.warn(append(path, "target"), "%d is not a port: left out", p.Container)
			continue
		}
		if !s.addPort(p) && p.Host != 0 && !s.tooManyPorts {
			s.warn(path, "container port %d is published twice: Kubernetes publishes it once", p.Container)
		}
	}
	for i, e := range s.svc.Expose {
		port, proto, _ := strings.Cut(e, "/")
		lo, hi, isRange := strings.Cut(port, "-")
		if !isRange {
			hi = lo
		}
		a, errA := strconv.Atoi(lo)
		b, errB := strconv.Atoi(hi)
		if errA != nil || errB != nil || a < 1 || b > 65535 || a > b || b-a > 100 || (proto != "" && proto != "tcp" && proto != "udp") {
			s.warn([]string{"expose", strconv.Itoa(i)}, "%q is not a port, a short port range or port/protocol: left out", e)
			continue
		}
		for n := a; n <= b; n++ {
			s.addPort(translate.Port{Container: n, Protocol: proto})
		}
	}
	if s.app.Replicas > 1 {
		s.dropHostPorts()
	}
}

// dropHostPorts leaves out the published ports of a replicated service.
func (s *svcMap) dropHostPorts() {
	for i := range s.app.Ports {
		if s.app.Ports[i].Host != 0 {
			s.app.Ports[i].Host = 0
			s.warn([]string{"ports"}, "a published port cannot be shared by %d replicas: port %d is reachable in the cluster only", s.app.Replicas, s.app.Ports[i].Container)
		}
	}
}

// reachable makes sure that a service others reach by name has a port,
// so that it gets its Service: from its health check when it declares
// none.
func (s *svcMap) reachable() {
	if len(s.app.Ports) > 0 {
		return
	}
	if hc := s.svc.HealthCheck; hc != nil && !hc.Disable {
		if m := localPortRE.FindStringSubmatch(strings.Join(hc.Test, " ")); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n >= 1 && n <= 65535 {
				s.addPort(translate.Port{Container: n})
				s.warn([]string{"healthcheck", "test"}, "the service declares no port; its health check's port %d becomes its Service's port, so other services reach it by name", n)
				return
			}
		}
	}
	if !s.mentioned[s.name] {
		return
	}
	if n := wellKnownPort(s.app.Image); n != 0 {
		s.addPort(translate.Port{Container: n})
		s.warn(nil, "other services reach it by name but it declares no port: port %d, where its image listens by default, becomes its Service's port", n)
		return
	}
	s.warn(nil, "no ports, expose or health check port: on Kubernetes it gets no Service, so other services cannot reach it by name; add expose")
}

// networks maps network aliases, and links' aliases, to extra Services.
func (s *svcMap) networks() {
	var aliases []string
	for _, net := range sortedKeys(s.svc.Networks) {
		cfg := s.svc.Networks[net]
		if cfg == nil {
			continue
		}
		aliases = append(aliases, cfg.Aliases...)
		if cfg.Ipv4Address != "" || cfg.Ipv6Address != "" || cfg.MacAddress != "" || len(cfg.LinkLocalIPs) > 0 {
			s.warn([]string{"networks", net}, "fixed addresses are %s", notTranslated)
		}
	}
	for _, l := range s.svc.Links {
		if _, alias, ok := strings.Cut(l, ":"); ok {
			aliases = append(aliases, alias)
		}
	}
	sort.Strings(aliases)
	seen := map[string]bool{s.name: true}
	for _, a := range aliases {
		switch {
		case seen[a]:
		case !dns1035RE.MatchString(a) || len(a) > 63:
			s.warn([]string{"networks"}, "alias %q is not a DNS-1035 label, which a Service name must be: left out", a)
		case s.project.Services[a].Name != "" || a == s.name+"-headless" || a == s.name+"-published":
			s.warn([]string{"networks"}, "alias %q is the name of another Service of the stack: left out", a)
		case len(s.app.Ports) == 0:
			s.warn([]string{"networks"}, "alias %q needs a port (aliases are Services on Kubernetes): left out", a)
		default:
			s.app.Aliases = append(s.app.Aliases, a)
		}
		seen[a] = true
	}
}

// wellKnownPorts are the default ports of images that compose files often
// run without declaring a port, reached by other services by name.
var wellKnownPorts = map[string]int{
	"postgres": 5432, "postgis/postgis": 5432, "mysql": 3306, "mariadb": 3306,
	"redis": 6379, "valkey/valkey": 6379, "mongo": 27017, "memcached": 11211,
	"rabbitmq": 5672, "nats": 4222, "elasticsearch": 9200, "clickhouse/clickhouse-server": 9000,
}

// wellKnownPort returns the default port of image's repository, or 0.
func wellKnownPort(image string) int {
	repo := image
	if i := strings.LastIndex(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	repo = strings.TrimPrefix(strings.TrimPrefix(repo, "docker.io/"), "library/")
	return wellKnownPorts[repo]
}
