package destination

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/translate"
)

// Credentials are the credentials of one container registry, given in
// Go code (see [Options].Registries). The password is redacted from
// every event, log, error, report and history record of the deploy, and
// reaches the host only on the standard input of `docker login
// --password-stdin`.
type Credentials struct {
	// Registry is the registry's host[:port] as image references name it
	// ("ghcr.io", "127.0.0.1:5000"). Empty means Docker Hub.
	Registry string
	// User and Password log in; Password may be a token.
	User, Password string
}

// ErrRegistryAuth is wrapped by the error of a deploy whose registry
// refused the credentials given for it (a wrong user or password).
var ErrRegistryAuth = errors.New("the registry refused the credentials (wrong user or password?)")

// authRef is a service's registry credentials by reference, from its
// spec, resolved when the deploy runs.
type authRef struct {
	service, image string
	auth           translate.RegistryAuth
}

// credentials resolves the spec's references and adds the options'
// credentials (which win for the same registry), sorted by registry.
func (r *deployment) credentials() ([]Credentials, error) {
	byReg := map[string]Credentials{}
	for _, a := range r.plan.auths {
		reg := a.auth.Registry
		if reg == "" {
			reg = translate.ImageRegistry(a.image)
		}
		pw, err := readRef(a.auth.PasswordEnv, a.auth.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("service %s: registry %s password: %w", a.service, reg, err)
		}
		byReg[reg] = Credentials{Registry: reg, User: a.auth.User, Password: pw}
	}
	for _, c := range r.opts.Registries {
		byReg[c.Registry] = c
	}
	out := make([]Credentials, 0, len(byReg))
	for _, c := range byReg {
		if c.Password != "" {
			r.secrets = append(r.secrets, c.Password)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Registry < out[j].Registry })
	return out, nil
}

// login logs the app's own Docker config directory on the host
// (.ferry/docker in the app's directory, not the login user's
// ~/.docker) in to each registry, the password on standard input.
func (r *deployment) login(ctx context.Context, creds []Credentials) (string, error) {
	for _, c := range creds {
		reg := c.Registry
		if reg == "" {
			reg = "docker.io"
		}
		p := &executor.Pipeline{Name: "build", Dir: r.plan.Dir, Steps: []executor.Step{{
			Name:   "docker login " + reg,
			Script: loginScript,
			Env:    []string{"FERRY_REGISTRY=" + c.Registry, "FERRY_REGISTRY_USER=" + c.User},
			Stdin:  strings.NewReader(c.Password),
		}}}
		_, step, lines, err := r.runBuildPipeline(ctx, p)
		if err != nil {
			return step, &BuildError{Image: "docker login " + reg, Lines: lines, Err: registryError(err, lines, reg)}
		}
	}
	return "", nil
}

// kubeAccess is how a Kubernetes plan reaches its cluster.
type kubeAccess struct {
	kubectl   []string // kubectl with the target's global flags
	namespace string
}

// pullSecret stores the credentials in the namespace as the image pull
// Secret ferry-registry-<app> (type kubernetes.io/dockerconfigjson, sent
// on kubectl's standard input) and adds it to the imagePullSecrets of
// the namespace's default ServiceAccount, so that the app's pods
// reference it.
func (r *deployment) pullSecret(ctx context.Context, creds []Credentials) (string, error) {
	k := r.plan.kube
	if k == nil || len(creds) == 0 {
		return "", nil
	}
	auths := map[string]any{}
	for _, c := range creds {
		reg := c.Registry
		if reg == "" {
			reg = "https://index.docker.io/v1/"
		}
		auth := base64.StdEncoding.EncodeToString([]byte(c.User + ":" + c.Password))
		r.secrets = append(r.secrets, auth, base64.StdEncoding.EncodeToString([]byte(c.Password)))
		auths[reg] = map[string]string{"username": c.User, "password": c.Password, "auth": auth}
	}
	cfg, _ := json.Marshal(map[string]any{"auths": auths})
	name := "ferry-registry-" + r.plan.App
	if len(name) > 253 {
		name = name[:253]
	}
	obj, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
		"metadata": map[string]any{"name": name, "namespace": k.namespace, "labels": map[string]string{"app.kubernetes.io/managed-by": "ferry"}},
		"data":     map[string]string{".dockerconfigjson": base64.StdEncoding.EncodeToString(cfg)},
	})
	r.secrets = append(r.secrets, base64.StdEncoding.EncodeToString(cfg))
	apply := append(slices.Clone(k.kubectl), "apply", "--namespace", k.namespace, "-f", "-")
	get := append(slices.Clone(k.kubectl), "get", "serviceaccount", "default", "--namespace", k.namespace, "-o", "jsonpath={.imagePullSecrets[*].name}")
	patch := append(slices.Clone(k.kubectl), "patch", "serviceaccount", "default", "--namespace", k.namespace, "--type", "json", "-p")
	script := fmt.Sprintf(`names=$(%s)
case " $names " in *" %s "*) echo "service account default uses %s"; exit 0 ;; esac
if [ -z "$names" ]; then
  %s
else
  %s
fi
`, quoted(get...), name, name,
		quoted(append(patch, `[{"op":"add","path":"/imagePullSecrets","value":[{"name":"`+name+`"}]}]`)...),
		quoted(append(patch, `[{"op":"add","path":"/imagePullSecrets/-","value":{"name":"`+name+`"}}]`)...))
	p := &executor.Pipeline{Name: "build", Dir: r.plan.Dir, Steps: []executor.Step{
		{Name: "image pull secret " + name, Args: apply, Stdin: bytes.NewReader(obj)},
		{Name: "pods use " + name, Script: script},
	}}
	_, step, lines, err := r.runBuildPipeline(ctx, p)
	if err != nil {
		return step, &BuildError{Image: "image pull secret " + name, Lines: lines, Err: err}
	}
	return "", nil
}

// registryError says so when a registry refused the credentials.
func registryError(err error, lines []string, registry string) error {
	text := strings.ToLower(strings.Join(lines, "\n") + "\n" + err.Error())
	for _, s := range []string{"unauthorized", "incorrect username or password", "authentication required", "401", "no basic auth credentials"} {
		if strings.Contains(text, s) {
			return fmt.Errorf("%w: %v", ErrRegistryAuth, describe(err))
		}
	}
	return err
}

// loginScript logs in with the password on standard input, into the
// app's Docker config directory, which keeps the login user's CLI
// plugins (Compose) reachable through a link.
const loginScript = `cfg="$PWD/.ferry/docker"
(umask 077 && mkdir -p "$cfg")
plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
if [ ! -e "$cfg/cli-plugins" ] && [ -d "$plugins" ]; then ln -s "$plugins" "$cfg/cli-plugins"; fi
if [ -n "$FERRY_REGISTRY" ]; then set -- "$FERRY_REGISTRY"; else set --; fi
DOCKER_CONFIG="$cfg" docker login --username "$FERRY_REGISTRY_USER" --password-stdin "$@"
`

// readRef reads a value given by reference: an environment variable or
// a file (one trailing newline removed) on this machine.
func readRef(env, file string) (string, error) {
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	}
	data, err := readLocalFile(file)
	if err != nil {
		return "", err
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if v == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return v, nil
}

// readLocalFile reads a file of this machine, "~/" meaning the home
// directory.
func readLocalFile(name string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(name, "~/"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, err
		}
		name = filepath.Join(home, rest)
	}
	return os.ReadFile(name)
}
