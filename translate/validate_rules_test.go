package translate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhq/ferry/translate"
)

// TestValidateProblems checks that Validate reports every problem with
// its field path, in field order.
func TestValidateProblems(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want []string
	}{
		{"missing", "replicas: 0\n", []string{
			"name: is required",
			"image: is required",
		}},
		{"names", `
name: 1web
image: "nginx latest"
ports:
  - {container: 80, name: a-very-long-port-name}
  - {container: 81, name: "http--x"}
  - {container: 82, name: "1234"}
aliases: [Web, web-2, web-2]
`, []string{
			`name: "1web" is not a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, ending with a letter or digit)`,
			`image: "nginx latest" is not an image reference`,
			`ports[0].name: "a-very-long-port-name" is not a port name (at most 15 lowercase letters, digits and single '-', with a letter)`,
			`ports[1].name: "http--x" is not a port name (at most 15 lowercase letters, digits and single '-', with a letter)`,
			`ports[2].name: "1234" is not a port name (at most 15 lowercase letters, digits and single '-', with a letter)`,
			`aliases[0]: "Web" is not a DNS-1035 label (lowercase letters, digits and '-', starting with a letter)`,
			`aliases[2]: "web-2" is listed twice`,
		}},
		{"long name", "name: " + strings.Repeat("a", 53) + "\nimage: x\n", []string{
			`name: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa..." is longer than 52 characters`,
		}},
		{"ports", `
name: web
image: nginx
replicas: 2
ports:
  - {container: 80, host: 8080}
  - {container: 70000}
  - {container: 80}
  - {container: 53, protocol: sctp}
`, []string{
			"ports[0].host: a fixed host port cannot be shared by 2 replicas; remove it and route through a domain",
			"ports[1].container: 70000 is not a port (1-65535)",
			"ports[2].container: 80/tcp is listed twice",
			`ports[2].name: "tcp-80" is used twice`,
			`ports[3].protocol: "sctp" is not tcp or udp`,
		}},
		{"domains", `
name: web
image: nginx
ports: [{container: 80}]
domains:
  - {host: "*.example.com"}
  - {host: a.example.com, path: "/x/../y", port: 81}
  - {host: b.example.com, cert_secret: c, issuer: le}
  - {host: c.example.com, tls: true, issuer: other}
  - {host: b.example.com, tls: true}
`, []string{
			`domains[0].host: "*.example.com" is not a lowercase DNS name (no wildcards)`,
			`domains[1].path: "/x/../y" is not a clean URL path prefix starting with '/'`,
			"domains[1].port: 81 is not one of the app's TCP ports",
			"domains[2].tls: must be true when cert_secret or issuer is set",
			`domains[3].issuer: "other" differs from "le": all domains of an app use one issuer`,
			"domains[4]: b.example.com/ is routed twice",
		}},
		{"env and secrets", `
name: web
image: nginx
env: {"1BAD": x, GOOD: y}
secrets:
  - {name: Token, value: x, env: GOOD}
  - {name: t2, value: y}
  - {name: t3, value: z, file: relative/path}
`, []string{
			`env.1BAD: "1BAD" is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)`,
			`secrets[0].name: "Token" is not a DNS-1123 label (lowercase letters, digits and '-')`,
			"secrets[0].env: GOOD is also set by env.GOOD",
			"secrets[1]: needs env, file or both",
			`secrets[2].file: "relative/path" is not a clean absolute file path (no ':' or ',')`,
		}},
		{"volumes", `
name: web
image: nginx
replicas: 2
volumes:
  - {name: data, target: /data, size: 512M}
  - {source: /srv, name: x, target: /x}
  - {source: ./rel, target: /data, selinux: y, size: 1Gi}
  - {name: bind-3, target: "/a:b"}
  - {name: ok, target: /ok, access: ReadWriteMany, size: "0"}
`, []string{
			`volumes[0].size: "512M" is ambiguous: Compose reads M as a power of 2, Kubernetes as a power of 10; write 512Mi (binary)`,
			"volumes[0].access: a ReadWriteOnce volume cannot be shared by 2 replicas; use workload: statefulset or access: ReadWriteMany",
			"volumes[1]: needs exactly one of name (a named volume), source (a bind mount) and tmpfs",
			"volumes[2].target: /data is also mounted by volumes[0].target",
			`volumes[2].source: "./rel" is not a clean absolute host path (no ':' or ',')`,
			`volumes[2].selinux: "y" is not z or Z`,
			"volumes[2].size: applies to named volumes only",
			`volumes[3].target: "/a:b" is not a clean absolute path (no ':' or ',')`,
			`volumes[3].name: "bind-3" is reserved`,
			"volumes[3].access: a ReadWriteOnce volume cannot be shared by 2 replicas; use workload: statefulset or access: ReadWriteMany",
			"volumes[4].size: must be more than 0",
		}},
		{"health", `
name: web
image: nginx
health:
  http: {path: nope}
  shell: "true"
  interval: 1500ms
  timeout: -1s
  retries: -1
`, []string{
			`health.http.path: "nope" is not a URL path starting with '/'`,
			"health.http.port: is required when the app has no TCP port",
			"health: needs exactly one of http, command and shell",
			"health.interval: 1.5s is not a whole number of seconds",
			"health.timeout: -1s is less than 0s",
			"health.retries: -1 is not between 0 and 1000",
		}},
		{"resources and settings", `
name: web
image: nginx
resources:
  requests: {cpu: "2", memory: 2Gi}
  limits: {cpu: 500m, memory: 1g}
labels: {"app.kubernetes.io/name": x, team: "bad value"}
restart: sometimes
stop_grace_period: 0.5s
user: root
workload: daemonset
`, []string{
			"resources.requests.cpu: 2 is more than the limit 500m",
			"resources.requests.memory: 2Gi is more than the limit 1g",
			"labels.app.kubernetes.io/name: keys under app.kubernetes.io/ are set by ferry",
			`labels.team: "bad value" is not a label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)`,
			`restart: "sometimes" is not a restart policy (no, always, on-failure, unless-stopped)`,
			"stop_grace_period: 500ms is not a whole number of seconds",
			`user: "root" is not a numeric user[:group] such as 1000 or 1000:1000`,
			`workload: "daemonset" is not a workload (deployment, statefulset)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := translate.Parse([]byte(tt.spec))
			var ve *translate.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a *ValidationError", err)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if ve.Error() != strings.Join(got, "\n") {
				t.Errorf("Error() = %q", ve.Error())
			}
		})
	}
}

func TestParseSyntaxErrors(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"", "empty app spec"},
		{"name: web\nimage: x\nreplica: 2\n", `line 3: unknown key "replica" in app`},
		{"name: web\nname: x\n", `line 2: mapping key "name" already defined at line 1`},
		{"name: web\nimage: x\nhealth: {interval: 10}\n", "line 3: cannot unmarshal !!int `10` into time.Duration\nhealth: needs exactly one of http, command and shell"},
		// Every problem at once: decoding, unknown keys and rules.
		{"name: Web\nimage: ''\nreplica: 2\nports: [{container: x, prot: udp}]\n",
			"line 3: unknown key \"replica\" in app\nline 4: cannot unmarshal !!str `x` into int\nline 4: unknown key \"prot\" in port\n" +
				"name: \"Web\" is not a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, ending with a letter or digit)\n" +
				"image: is required\nports[0].container: 0 is not a port (1-65535)"},
		{"name: a\n---\nname: b\n", "line 2: more than one document; an app spec is one YAML document"},
	}
	for _, tt := range tests {
		_, err := translate.Parse([]byte(tt.spec))
		var se *translate.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a *SyntaxError", tt.spec, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q):\n got %s\nwant %s", tt.spec, err, tt.want)
		}
	}
}

func TestUnits(t *testing.T) {
	bytesTests := map[string]int64{"0": 0, "1024": 1024, "1k": 1024, "512m": 512 << 20, "512Mi": 512 << 20, "2g": 2 << 30, "1Ti": 1 << 40, "10b": 10}
	for in, want := range bytesTests {
		if got, err := translate.ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "m", "1M", "1MB", "1mb", "1G", "1KiB", "1.5g", "-1", "1e3", "99999999999999999999", "9000000000000t"} {
		if _, err := translate.ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) succeeded", bad)
		}
	}
	cpuTests := map[string]int64{"1": 1000, "0.5": 500, ".25": 250, "1.250": 1250, "100m": 100, "0.001": 1, "2.": 2000}
	for in, want := range cpuTests {
		if got, err := translate.ParseCPU(in); err != nil || got != want {
			t.Errorf("ParseCPU(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", ".", "m", "1.2.3", "-1", "0.0005", "1e3", "1,5", "1.5m", "99999999999999"} {
		if _, err := translate.ParseCPU(bad); err == nil {
			t.Errorf("ParseCPU(%q) succeeded", bad)
		}
	}
}

func TestOptionsErrors(t *testing.T) {
	app := &translate.App{Name: "web", Image: "nginx"}
	if _, err := translate.ToCompose(app, translate.WithProxy("nginx")); err == nil {
		t.Error("unknown proxy accepted")
	}
	if _, err := translate.ToCompose(app, translate.WithProject("Bad Project")); err == nil {
		t.Error("bad project accepted")
	}
	if _, err := translate.ToKubernetes(app, translate.WithCreateNamespace(true)); err == nil {
		t.Error("WithCreateNamespace without a namespace accepted")
	}
	if _, err := translate.ToKubernetes(app, translate.WithNamespace("Bad")); err == nil {
		t.Error("bad namespace accepted")
	}
	app.Restart = "on-failure"
	if _, err := translate.ToKubernetes(app); err == nil || !strings.Contains(err.Error(), "restart:") {
		t.Errorf("restart on-failure on Kubernetes: %v", err)
	}
	if _, err := translate.ToCompose(&translate.App{Name: "x"}); err == nil {
		t.Error("ToCompose accepted an invalid app")
	}
}

// TestConfigHash checks that the pod template changes with env and
// secrets, and only with them.
func TestConfigHash(t *testing.T) {
	a := &translate.App{Name: "web", Image: "nginx", Env: map[string]string{"A": "1"}}
	h1 := translate.ConfigHash(a)
	a.Env["A"] = "2"
	h2 := translate.ConfigHash(a)
	a.Secrets = []translate.Secret{{Name: "s", Value: "v", Env: "S"}}
	h3 := translate.ConfigHash(a)
	if h1 == h2 || h2 == h3 || len(h1) != 64 {
		t.Errorf("hashes %s %s %s", h1, h2, h3)
	}
	if translate.ConfigHash(a) != h3 {
		t.Error("ConfigHash is not stable")
	}
}

func TestNilApp(t *testing.T) {
	if _, err := translate.ToCompose(nil); err == nil {
		t.Error("ToCompose(nil) succeeded")
	}
	if _, err := translate.ToKubernetes(nil); err == nil {
		t.Error("ToKubernetes(nil) succeeded")
	}
}
