package compose

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/ferryhq/ferry/translate"
)

var (
	labelKeyRE   = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	labelValueRE = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$`)
	hostRuleRE   = regexp.MustCompile("Host\\(([^)]*)\\)")
	pathRuleRE   = regexp.MustCompile("PathPrefix\\(`([^`]*)`\\)")
	backtickRE   = regexp.MustCompile("`([^`]*)`")
	matcherRE    = regexp.MustCompile(`([A-Za-z]+)\(`)
	upstreamsRE  = regexp.MustCompile(`\{\{\s*upstreams\s*([0-9]*)\s*\}\}`)
	caddyKeyRE   = regexp.MustCompile(`^caddy(_[0-9]+)?$`)
	dnsNameRE    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// labels maps the routing labels of Traefik and caddy-docker-proxy to
// Domains, and keeps the other labels that are valid Kubernetes labels.
func (s *svcMap) labels() {
	rest := map[string]string{}
	traefik := map[string]string{}
	caddy := map[string]string{}
	for k, v := range s.svc.Labels {
		switch {
		case strings.HasPrefix(k, "traefik."):
			traefik[k] = v
		case caddyKeyRE.MatchString(strings.SplitN(k, ".", 2)[0]):
			caddy[k] = v
		default:
			rest[k] = v
		}
	}
	s.traefikDomains(traefik)
	s.caddyDomains(caddy)
	for _, k := range sortedKeys(rest) {
		v := rest[k]
		switch {
		case strings.HasPrefix(k, "#") || strings.HasPrefix(k, "x-"):
			// Extension fields, which Compose itself ignores.
		case strings.HasPrefix(k, "app.kubernetes.io/"):
			s.warn([]string{"labels", k}, "keys under app.kubernetes.io/ are set by ferry on Kubernetes: left out there")
		case !labelKeyRE.MatchString(k) || !labelValueRE.MatchString(v):
			s.warn([]string{"labels", k}, "not a valid Kubernetes label (key or value): left out on Kubernetes")
		default:
			if s.app.Labels == nil {
				s.app.Labels = map[string]string{}
			}
			s.app.Labels[k] = v
		}
	}
}

// traefikDomains reads Traefik v2/v3 HTTP router labels.
func (s *svcMap) traefikDomains(labels map[string]string) {
	if len(labels) == 0 {
		return
	}
	if v, ok := labels["traefik.enable"]; ok && v == "false" {
		s.warn([]string{"labels", "traefik.enable"}, "routing is disabled: no Ingress")
		return
	}
	servicePorts := map[string]int{}
	routers := map[string]bool{}
	for k, v := range labels {
		parts := strings.Split(k, ".")
		switch {
		case len(parts) == 7 && parts[1] == "http" && parts[2] == "services" && parts[4] == "loadbalancer" && parts[5] == "server" && parts[6] == "port":
			n, err := strconv.Atoi(v)
			if err == nil {
				servicePorts[parts[3]] = n
			}
		case len(parts) >= 4 && parts[1] == "http" && parts[2] == "routers":
			routers[parts[3]] = true
		}
	}
	for _, r := range sortedKeys(routers) {
		s.traefikRouter(labels, r, servicePorts)
	}
	for _, k := range sortedKeys(labels) {
		if !traefikUnderstood(k) {
			s.warn([]string{"labels", k}, "Traefik setting not translated to the Ingress")
		}
	}
}

// traefikUnderstood reports whether the Ingress carries what label k
// says, or k has no meaning there.
func traefikUnderstood(k string) bool {
	switch k {
	case "traefik.enable", "traefik.docker.network":
		return true
	}
	parts := strings.Split(k, ".")
	if len(parts) >= 5 && parts[1] == "http" && parts[2] == "routers" {
		switch strings.Join(parts[4:], ".") {
		case "rule", "tls", "tls.certresolver", "service", "entrypoints":
			return true
		}
	}
	return len(parts) == 7 && parts[1] == "http" && parts[2] == "services" && parts[5] == "server" && parts[6] == "port"
}

// traefikRouter turns one router's rule into Domains.
func (s *svcMap) traefikRouter(labels map[string]string, r string, servicePorts map[string]int) {
	pre := "traefik.http.routers." + r + "."
	rule, ok := labels[pre+"rule"]
	if !ok {
		return
	}
	path := []string{"labels", pre + "rule"}
	var hosts []string
	for _, m := range hostRuleRE.FindAllStringSubmatch(rule, -1) {
		for _, h := range backtickRE.FindAllStringSubmatch(m[1], -1) {
			hosts = append(hosts, h[1])
		}
	}
	prefix := ""
	if m := pathRuleRE.FindStringSubmatch(rule); m != nil {
		prefix = strings.TrimSuffix(m[1], "/")
	}
	for _, m := range matcherRE.FindAllStringSubmatch(rule, -1) {
		if m[1] != "Host" && m[1] != "PathPrefix" {
			s.warn(path, "matcher %s is not translated to the Ingress: it routes by host and path prefix only", m[1])
		}
	}
	if strings.Contains(rule, "||") && len(hosts) < 2 {
		s.warn(path, "alternatives (||) are not translated to the Ingress")
	}
	port := 0
	if svc, ok := labels[pre+"service"]; ok {
		port = servicePorts[svc]
	} else if len(servicePorts) == 1 {
		for _, p := range servicePorts {
			port = p
		}
	}
	tls := labels[pre+"tls"] == "true" || labels[pre+"tls.certresolver"] != ""
	for _, h := range hosts {
		s.addDomain(path, translate.Domain{Host: h, Path: prefix, Port: port, TLS: tls, Issuer: labels[pre+"tls.certresolver"]})
	}
}

// caddyDomains reads caddy-docker-proxy labels: caddy (or caddy_N) with
// the site addresses and caddy.reverse_proxy with {{upstreams PORT}}.
func (s *svcMap) caddyDomains(labels map[string]string) {
	for _, k := range sortedKeys(labels) {
		if !caddyKeyRE.MatchString(k) {
			continue
		}
		path := []string{"labels", k}
		proxy := labels[k+".reverse_proxy"]
		m := upstreamsRE.FindStringSubmatch(proxy)
		if m == nil {
			s.warn(path, "a Caddy site without reverse_proxy {{upstreams PORT}} is not translated to the Ingress")
			continue
		}
		port, _ := strconv.Atoi(m[1])
		prefix := ""
		if before := strings.TrimSpace(proxy[:strings.Index(proxy, m[0])]); strings.HasPrefix(before, "/") {
			prefix = strings.TrimSuffix(strings.TrimSuffix(before, "*"), "/")
		}
		for _, addr := range strings.FieldsFunc(labels[k], func(r rune) bool { return r == ',' || r == ' ' }) {
			tls := !strings.HasPrefix(addr, "http://")
			addr = strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://")
			host, _, _ := strings.Cut(addr, ":")
			s.addDomain(path, translate.Domain{Host: host, Path: prefix, Port: port, TLS: tls})
		}
	}
	for _, k := range sortedKeys(labels) {
		if !caddyKeyRE.MatchString(k) && !strings.HasSuffix(k, ".reverse_proxy") {
			s.warn([]string{"labels", k}, "Caddy directive not translated to the Ingress")
		}
	}
}

// addDomain adds a route after checking what the Ingress needs.
func (s *svcMap) addDomain(path []string, d translate.Domain) {
	if !dnsNameRE.MatchString(d.Host) || len(d.Host) > 253 {
		s.warn(path, "host %q is not a lowercase DNS name (no wildcards): not routed on Kubernetes", d.Host)
		return
	}
	if d.Issuer != "" && !dnsNameRE.MatchString(d.Issuer) {
		s.warn(path, "certificate resolver %q is not a DNS-1123 name, which a cert-manager issuer must be: left out", d.Issuer)
		d.Issuer = ""
	}
	for _, e := range s.app.Domains {
		if e.Issuer != "" && d.Issuer != "" && e.Issuer != d.Issuer {
			s.warn(path, "certificate resolver %q differs from %q: the Ingress uses one issuer", d.Issuer, e.Issuer)
			d.Issuer = e.Issuer
		}
		if e.Host == d.Host && e.Path == d.Path {
			return
		}
	}
	if d.Port != 0 {
		s.addPort(translate.Port{Container: d.Port})
	}
	s.app.Domains = append(s.app.Domains, d)
	sort.SliceStable(s.app.Domains, func(i, j int) bool { return s.app.Domains[i].Host < s.app.Domains[j].Host })
}
