package destination

import (
	"fmt"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/translate"
)

// Swarm deploys a stack on a Docker Swarm manager with
// `docker stack deploy --prune`. The zero value is ready to use.
//
// Its plan checks that the host is a Swarm manager, creates an attachable
// overlay network when missing, deploys the stack and waits until every
// service runs all its replicas, no update is in progress or has failed,
// and the stack's containers on the manager have passed their health
// checks. A task that turns unhealthy after Swarm's update monitor
// window (5s by default) and after that wait is not seen. Rollback restores the previous release's
// files and deploys them again; the first release is removed instead.
type Swarm struct {
	// Dir is the directory holding the stacks on the host; each stack
	// gets Dir/<name>. Empty means [DefaultDir].
	Dir string
	// Network is the overlay network the app joins, created when
	// missing. Empty means "ferry".
	Network string
	// Stack is the Swarm stack's name. Empty means the stack's name.
	Stack string
	// Proxy selects the reverse proxy labels; see [translate.WithProxy].
	Proxy string
	// Timeout is how long the services have to run all their replicas.
	// Zero means 2 minutes.
	Timeout time.Duration
}

// Plan implements [Target]: it plans app as a stack of one.
func (s Swarm) Plan(app *translate.App) (*Plan, error) { return planApp(app, s.plan) }

// PlanStack implements [Target]. It deploys the stack's compose project
// ([translate.Stack.Compose] when set, otherwise the translation of its
// services) adapted to what `docker stack deploy` accepts: depends_on
// and build are left out, each with a warning on the plan (Swarm starts
// a stack's services in no particular order and never builds images).
func (s Swarm) PlanStack(stack *translate.Stack) (*Plan, error) {
	return planStack(stack, s.plan)
}

func (s Swarm) plan(sp *stackPlan) (*Plan, error) {
	c, err := newComposePlan(sp, s.Dir, s.Network, s.Stack, s.Proxy, s.Timeout)
	if err != nil {
		return nil, err
	}
	warnings, err := forSwarm(sp, c.files)
	if err != nil {
		return nil, err
	}
	p, err := newPlan("swarm", sp, c.dir, c.files, c.timeout, warnings)
	if err != nil {
		return nil, err
	}
	c.pipelines(p, composeSteps{
		tool: executor.Step{Name: "swarm manager", Script: `if [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" != true ]; then
  echo "this host is not a Swarm manager (docker swarm init or join as a manager)" >&2
  exit 1
fi
echo "swarm manager"
`},
		network: networkStep(c.network, "--driver", "overlay", "--attachable"),
		apply:   withoutName(c.files[0].Path, ".stack.yaml") + quoted("docker", "stack", "deploy", "--prune", "--with-registry-auth", "-c", ".stack.yaml", c.project) + "\n",
		applyAs: "stack deploy",
		remove:  quoted("docker", "stack", "rm", c.project) + "\necho \"no previous release: removed the stack\"\n",
		wait:    stackWaitScript(c.project, c.timeout),
		waitAs:  "wait for replicas",
	})
	p.Diagnose = stackDiagnosis(c.dir, c.project)
	p.Remove = stackRemove(c.dir, c.project)
	return p.withSecrets(sp), nil
}

// stackWaitScript waits until every service of stack runs all its
// replicas ("2/2"), no update is in progress, and the stack's containers
// on this node have passed their health checks.
func stackWaitScript(stack string, timeout time.Duration) string {
	return fmt.Sprintf(`stack=%s
deadline=$(( $(date +%%s) + %s ))
while :; do
  waiting=$(docker stack services "$stack" --format '{{.Name}} {{.Replicas}}' | awk '{ split($2, r, "/"); if (r[1] != r[2]) printf " %%s:%%s", $1, $2 }')
  # A service being updated still runs its old tasks: wait until the
  # update completed; a paused or rolled back update has failed.
  updates=$(docker stack services -q "$stack" | xargs -r docker service inspect --format '{{.Spec.Name}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}')
  failed=$(echo "$updates" | awk '$2 ~ /paused|rollback/ { printf " %%s:%%s", $1, $2 }')
  if [ -n "$failed" ]; then
    echo "update failed:$failed" >&2
    exit 1
  fi
  waiting="$waiting$(echo "$updates" | awk '$2 == "updating" { printf " %%s:updating", $1 }')"
  # Swarm counts a task whose health check has not passed yet as
  # running: wait until the stack's containers on this node are healthy
  # (an unhealthy one is replaced by Swarm, or the deadline passes).
  waiting="$waiting$(docker ps --filter "label=com.docker.stack.namespace=$stack" --format '{{.Label "com.docker.swarm.service.name"}} {{.Status}}' |
    awk '/\(health: starting\)/ { printf " %%s:starting", $1 } /\(unhealthy\)/ { printf " %%s:unhealthy", $1 }')"
  if [ -z "$waiting" ]; then
    echo "all services of $stack run their replicas"
    exit 0
  fi
  if [ "$(date +%%s)" -ge "$deadline" ]; then
    echo "timed out after %ss waiting for:$waiting" >&2
    exit 1
  fi
  sleep 1
done
`, quoted(stack), seconds(timeout), seconds(timeout))
}
