package destination

import (
	"fmt"
	"path"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/translate"
)

// DefaultDir is the directory under which apps live on a host when a
// target's Dir is empty, relative to the login user's home directory.
const DefaultDir = "ferry"

// Docker deploys a stack as a compose project on a Docker host. The zero
// value is ready to use.
//
// Its plan checks that the engine and Compose are there, creates the
// network when missing, runs `up -d --remove-orphans` (so services the
// app no longer has are removed), then waits until every container of
// the project is running and, where it has a health check, healthy.
// Rollback restores the previous release's files and runs `up` again;
// the first release of an app is taken down instead.
type Docker struct {
	// Dir is the directory holding the stacks on the host; each stack
	// gets Dir/<name>. Empty means [DefaultDir].
	Dir string
	// Network is the external Docker network the app joins, created
	// when missing. Empty means "ferry".
	Network string
	// Project is the compose project name. Empty means the stack's name.
	Project string
	// Proxy selects the reverse proxy labels for the app's domains; see
	// [translate.WithProxy]. Empty means traefik.
	Proxy string
	// ComposeCommand is the Compose program, as argv ("docker",
	// "compose"). Nil means: detect on the host, preferring Compose v2
	// (`docker compose`) and falling back to v1 (`docker-compose`).
	ComposeCommand []string
	// Timeout is how long the containers have to become running and
	// healthy. Zero means 2 minutes.
	Timeout time.Duration
	// ProxyName names the ferry proxy ([Proxy]) that routes the app's
	// domains. Empty means [DefaultProxyName]. An update of a service
	// with domains and no published host port starts the new containers
	// beside the old ones and switches this proxy to them (see
	// switch.go); without such a proxy on the host the switch relies on
	// the labels alone.
	ProxyName string
	// Drain is how long the old containers keep serving the requests in
	// flight after the proxy switched to the new ones, before they are
	// stopped with their stop grace period. Zero means 2 seconds.
	Drain time.Duration
}

const defaultDockerTimeout = 2 * time.Minute

// Plan implements [Target]: it plans app as a stack of one.
func (d Docker) Plan(app *translate.App) (*Plan, error) { return planApp(app, d.plan) }

// PlanStack implements [Target]. The stack's compose project is
// [translate.Stack.Compose] as it is when set (so nothing is lost),
// otherwise the translation of its services, with depends_on. Compose
// itself starts each service after its dependencies are started, or
// healthy with condition service_healthy.
func (d Docker) PlanStack(stack *translate.Stack) (*Plan, error) {
	return planStack(stack, d.plan)
}

func (d Docker) plan(s *stackPlan) (*Plan, error) {
	if d.ProxyName != "" {
		if err := checkProxyName(d.ProxyName); err != nil {
			return nil, fmt.Errorf("destination: docker: proxy name %w", err)
		}
	}
	c, err := newComposePlan(routedStack(s, d.ProxyName), d.Dir, d.Network, d.Project, d.Proxy, d.Timeout)
	if err != nil {
		return nil, err
	}
	c.files = append(c.files, routeFiles(s, c.project)...)
	p, err := newPlan("docker", s, c.dir, c.files, c.timeout, inPlaceWarnings(s))
	if err != nil {
		return nil, err
	}
	compose := composePrelude(d.ComposeCommand, c.files[0].Path)
	up := `"$@" -p ` + quoted(c.project) + ` -f "$f" up -d --remove-orphans` + "\n"
	down := `"$@" -p ` + quoted(c.project) + ` -f "$f" down --remove-orphans` + "\n"
	remove := down + "echo \"no previous release: took the new one down\"\n"
	c.pipelines(p, composeSteps{
		tool:    executor.Step{Name: "compose", Script: composePrelude(d.ComposeCommand, "") + `"$@" version` + "\n"},
		network: networkStep(c.network),
		prelude: compose,
		apply:   up,
		applyAs: "compose up",
		remove:  remove,
		wait:    healthScript(c.project, c.timeout),
		waitAs:  "wait until healthy",
	})
	p.Apply.Steps = d.applySteps(s, c, compose, up)
	if len(p.Apply.Steps) > 1 {
		// Some services switch: going back switches them too, to the
		// restored release's containers, so that the proxy's routes
		// follow and no request is dropped.
		back := []executor.Step{p.Rollback.Steps[0]}
		for i, st := range p.Apply.Steps {
			otherwise := ""
			if i == 0 {
				otherwise = compose + remove
			}
			st.Name += " (previous release)"
			st.Script = ifPrevious(st.Script, otherwise)
			back = append(back, st)
		}
		p.Rollback.Steps = append(back, p.Rollback.Steps[2:]...)
	}
	p.Diagnose = composeDiagnosis(c.dir, c.project)
	p.Remove = composeRemove(c.dir, compose, c.project)
	p.Remove.Steps = append([]executor.Step{unrouteStep(c.project, orDefaultProxy(d.ProxyName))}, p.Remove.Steps...)
	return p.withSecrets(s), nil
}

// composePrelude sets "$@" to the Compose program and f to the compose
// file to give it. Compose v1 knows no top-level "name" (the project is
// given with -p anyway), so for v1 f is a copy of file without it.
// With file empty, it only finds the program.
func composePrelude(cmd []string, file string) string {
	v1 := withoutName(file, ".compose-v1.yaml") + "f=.compose-v1.yaml\n"
	if file == "" {
		v1 = "echo \"Compose v1\"\n"
	}
	if len(cmd) > 0 {
		s := "set -- " + quoted(cmd...) + "\nf=" + quoted(file) + "\n"
		if path.Base(cmd[0]) == "docker-compose" {
			s += v1
		}
		return s
	}
	return `f=` + quoted(file) + `
if docker compose version >/dev/null 2>&1; then
  set -- docker compose
elif command -v docker-compose >/dev/null 2>&1; then
  set -- docker-compose
` + indent(v1) + `else
  echo "neither Compose v2 (docker compose) nor v1 (docker-compose) is installed" >&2
  exit 127
fi
`
}

// healthScript waits until every container of project is running and,
// where it has a health check, healthy (see [waitHealthyFn]).
func healthScript(project string, timeout time.Duration) string {
	return fmt.Sprintf("project=%s\ntimeout=%s\n", quoted(project), seconds(timeout)) + waitHealthyFn +
		`project_ids() { docker ps -aq --filter "label=com.docker.compose.project=$project"; }
wait_healthy project_ids "compose project $project" || exit 1
echo "all containers of $project are running and healthy"
`
}

// waitHealthyFn defines the shell function `wait_healthy LISTER WHAT`,
// which waits until every container that the function LISTER prints is
// running and, where it has a health check, healthy. It fails at once
// on an exited or unhealthy container or when LISTER prints none (WHAT
// says where none were found), and after $timeout seconds otherwise.
// Containers without a health check must be seen running twice, a
// second apart. Deploys and switched updates both wait with it.
const waitHealthyFn = `wait_healthy() {
  lister=$1 what=$2
  deadline=$(( $(date +%s) + timeout ))
  ok=0 last=
  while :; do
    ids=$("$lister")
    if [ -z "$ids" ]; then
      echo "no containers in $what" >&2
      return 1
    fi
    bad= waiting=
    for id in $ids; do
      set -- $(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}}' "$id")
      case "$2 $3" in
        "running healthy"|"running -") ;;
        "running starting"|created\ *|restarting\ *) waiting="$waiting ${1#/}:$2/$3" ;;
        *) bad="$bad ${1#/}:$2/$3" ;;
      esac
    done
    if [ -n "$bad" ]; then
      echo "not healthy:$bad" >&2
      return 1
    fi
    if [ -z "$waiting" ]; then
      ok=$((ok + 1))
      [ "$ok" -ge 2 ] && return 0
    else
      ok=0
      [ "$waiting" != "$last" ] && echo "waiting for:$waiting"
    fi
    last=$waiting
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "timed out after ${timeout}s waiting for:$waiting" >&2
      return 1
    fi
    sleep 1
  done
}
`

// composePlan is what the Docker and Swarm targets share: the stack's
// compose project, with defaults applied.
type composePlan struct {
	network, project string
	// files are the project's files, compose.yaml first, relative to dir.
	files   []translate.File
	timeout time.Duration
	dir     string
}

func newComposePlan(s *stackPlan, baseDir, network, project, proxy string, timeout time.Duration) (*composePlan, error) {
	c := &composePlan{network: network, project: project, timeout: timeout}
	if c.network == "" {
		c.network = "ferry"
	}
	if c.project == "" {
		c.project = s.Name
	}
	if c.timeout <= 0 {
		c.timeout = defaultDockerTimeout
	}
	opts := []translate.ComposeOption{translate.WithNetwork(c.network), translate.WithProject(c.project)}
	if proxy != "" {
		opts = append(opts, translate.WithProxy(proxy))
	}
	var err error
	if c.files, err = composeFiles(s, opts); err != nil {
		return nil, err
	}
	c.dir = appDir(baseDir, DefaultDir, s.Name)
	return c, nil
}

// composeSteps are the scripts of a target that deploys a compose
// project (Docker, Swarm), which its pipelines are made of.
type composeSteps struct {
	tool, network executor.Step // check the tool, create the network
	// prelude runs before apply, and before remove in a rollback.
	prelude, apply, remove, wait string
	// applyAs and waitAs name the apply and wait steps.
	applyAs, waitAs string
}

// pipelines gives p the pipelines Docker and Swarm share: check (the
// engine, the tool, the network, the directories), apply, verify (wait)
// and rollback (restore the previous files and apply them again, or
// remove a first release, then wait).
func (c *composePlan) pipelines(p *Plan, st composeSteps) {
	p.Check = &executor.Pipeline{Name: "check", Dir: c.dir, Steps: []executor.Step{
		{Name: "docker engine", Args: []string{"docker", "version", "--format", "engine {{.Server.Version}}"}},
		st.tool,
		st.network,
	}}
	if mk, ok := mkdirStep(c.files); ok {
		p.Check.Steps = append(p.Check.Steps, mk)
	}
	p.Apply = &executor.Pipeline{Name: "apply", Dir: c.dir, Steps: []executor.Step{
		{Name: st.applyAs, Script: st.prelude + st.apply},
	}}
	p.Verify = &executor.Pipeline{Name: "verify", Dir: c.dir, Steps: []executor.Step{
		{Name: st.waitAs, Script: st.wait, Timeout: p.guard()},
	}}
	p.Rollback = &executor.Pipeline{Name: "rollback", Dir: c.dir, Steps: []executor.Step{
		{Name: "restore previous files", Script: restoreScript},
		{Name: st.applyAs + " previous release", Script: st.prelude + ifPrevious(st.apply, st.remove)},
		{Name: st.waitAs, Script: ifPrevious(st.wait, ""), Timeout: p.guard()},
	}}
}

// networkStep creates the app's external network when it is missing,
// with the given options of docker network create.
func networkStep(network string, createOpts ...string) executor.Step {
	create := append(append([]string{"docker", "network", "create"}, createOpts...), network)
	return executor.Step{Name: "network " + network, Script: fmt.Sprintf(
		"if docker network inspect %[1]s >/dev/null 2>&1; then\n  echo \"network %[2]s exists\"\nelse\n  %[3]s >/dev/null\n  echo %[1]s >>.ferry/networks\n  echo \"created network %[2]s\"\nfi\n",
		quoted(network), network, quoted(create...))}
}

// withoutName writes a copy of the compose file without its top-level
// "name", which Compose v1 and docker stack deploy refuse (both take the
// project or stack name on the command line).
func withoutName(file, copy string) string {
	return "sed '/^name:/d' " + quoted(file) + " >" + quoted(copy) + "\n"
}
