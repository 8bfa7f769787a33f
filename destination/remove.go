package destination

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ferryhq/ferry/executor"
)

// Remove takes the app of plan down on the host behind ex, under the
// app's lock, and records the removal in its history: on Docker, the
// compose project's containers and the networks ferry created for it
// (when nothing else uses them); on Swarm, the stack and those networks;
// on Kubernetes, the app's objects selected by its labels. Volumes and
// PersistentVolumeClaims are kept unless [Options.RemoveVolumes] is set.
// The app's directory, its kept releases and its history stay, so that
// a later [Rollback] to a release number brings the app back.
//
// The returned [*Report] is never nil; its Action is "remove". The
// error is a [*Error] as for [Deploy]; a plan without a Remove pipeline
// fails at once.
func Remove(ctx context.Context, ex executor.Executor, plan *Plan, opts *Options) (*Report, error) {
	d := newDeployment(ex, plan, opts, "remove")
	if plan.Remove == nil {
		return d.fail("remove", "", fmt.Errorf("destination: the %s plan has no Remove pipeline", plan.Target), OutcomeFailed)
	}
	return d.locked(ctx, func([]Record) (*Report, error) { return d.remove(ctx) })
}

// remove is Remove's work under the lock.
func (d *deployment) remove(ctx context.Context) (*Report, error) {
	rep, plan := d.rep, d.plan
	p := *plan.Remove
	p.Env = append(append([]string(nil), p.Env...), "FERRY_DIR="+plan.Dir)
	if d.opts.RemoveVolumes {
		p.Env = append(p.Env, "FERRY_REMOVE_VOLUMES=1")
	}
	if _, step, err := d.pipeline(ctx, &p); err != nil {
		d.record(ctx, nil, OutcomeFailed, err)
		return d.fail("remove", step, err, OutcomeFailed)
	}
	d.record(ctx, nil, OutcomeSucceeded, nil)
	rep.Outcome = OutcomeSucceeded
	return rep, nil
}

// forgetScript marks the app as not deployed: no release is current.
const forgetScript = `rm -f "$FERRY_DIR/.ferry/current"
echo "no release is current"
`

// networksScript removes the networks ferry created for the app (listed
// in .ferry/networks by the check) once no container uses them.
const networksScript = `f="$FERRY_DIR/.ferry/networks"
[ -f "$f" ] || { echo "ferry created no network for this app"; exit 0; }
sort -u "$f" | while IFS= read -r net; do
  [ -n "$net" ] || continue
  if ! docker network inspect "$net" >/dev/null 2>&1; then continue; fi
  if [ -n "$(docker network inspect -f '{{range .Containers}}x{{end}}' "$net")" ]; then
    echo "network $net: still in use, kept"
  elif docker network rm "$net" >/dev/null; then
    echo "removed network $net"
  fi
done
rm -f "$f"
`

// removePipeline is a target's Remove pipeline: its own steps, then the
// state change that says no release is live.
func removePipeline(dir string, steps ...executor.Step) *executor.Pipeline {
	steps = append(steps, executor.Step{Name: "forget the current release", Script: forgetScript})
	return &executor.Pipeline{Name: "remove", Dir: dir, Steps: steps}
}

// composeRemove takes a compose project down, with its volumes when
// FERRY_REMOVE_VOLUMES is set, and the networks ferry created.
func composeRemove(dir, prelude, project string) *executor.Pipeline {
	return removePipeline(dir,
		executor.Step{Name: "compose down", Script: prelude + `if [ ! -f "$f" ]; then
  echo "no compose file in $PWD: nothing deployed"
  exit 0
fi
"$@" -p ` + quoted(project) + ` -f "$f" down --remove-orphans ${FERRY_REMOVE_VOLUMES:+--volumes}
`},
		executor.Step{Name: "remove networks", Script: networksScript},
	)
}

// stackRemove removes a Swarm stack, waits for its tasks to go, and
// removes its volumes when FERRY_REMOVE_VOLUMES is set, and the networks
// ferry created.
func stackRemove(dir, stack string) *executor.Pipeline {
	return removePipeline(dir,
		executor.Step{Name: "stack rm", Timeout: 2 * time.Minute, Script: fmt.Sprintf(`stack=%s
docker stack rm "$stack"
i=0
while [ -n "$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack")" ]; do
  i=$((i + 1))
  if [ "$i" -ge 90 ]; then echo "the tasks of $stack are still there after 90s" >&2; exit 1; fi
  sleep 1
done
if [ -n "${FERRY_REMOVE_VOLUMES:-}" ]; then
  docker volume ls -q --filter "label=com.docker.stack.namespace=$stack" | while IFS= read -r v; do
    docker volume rm "$v" >/dev/null && echo "removed volume $v"
  done
fi
`, quoted(stack))},
		executor.Step{Name: "remove networks", Script: networksScript},
	)
}

// kubeRemove deletes the app's objects of the given resources by label,
// and its PersistentVolumeClaims when FERRY_REMOVE_VOLUMES is set.
func kubeRemove(dir string, kc func(...string) []string, ns, selector string, resources []string) *executor.Pipeline {
	del := kc("delete", strings.Join(resources, ","), "--namespace", ns, "-l", selector, "--ignore-not-found", "--wait=true", "--timeout=120s")
	pvc := kc("delete", "persistentvolumeclaims", "--namespace", ns, "-l", selector, "--ignore-not-found", "--wait=false")
	return removePipeline(dir, executor.Step{Name: "delete objects", Timeout: 3 * time.Minute,
		Script: quoted(del...) + "\nif [ -n \"${FERRY_REMOVE_VOLUMES:-}\" ]; then\n  " + quoted(pvc...) + "\nfi\n"})
}

// pruneResources turns an allowlist's group/version/Kind entries into
// kubectl resource names.
func pruneResources(allow []string) []string {
	var out []string
	for _, a := range allow {
		parts := strings.Split(a, "/")
		if len(parts) != 3 {
			continue
		}
		r := strings.ToLower(parts[2])
		if parts[0] != "core" && parts[0] != "" {
			r += "." + parts[0]
		}
		out = append(out, r)
	}
	return out
}
