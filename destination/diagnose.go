package destination

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ferryhq/ferry/executor"
)

// logLines bounds the log lines shown per container.
const logLines = 50

// diagnose runs the plan's Diagnose pipeline and returns what it printed,
// redacted by the executor. Its failures are not the deploy's: a step
// that cannot gather its part says so in the text.
func (d *deployment) diagnose(ctx context.Context) string {
	if d.plan.Diagnose == nil {
		return ""
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	res, _, _ := d.pipeline(dctx, d.plan.Diagnose)
	var b strings.Builder
	if res != nil {
		for _, s := range res.Steps {
			b.Write(s.Stdout)
			b.Write(s.Stderr)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// diagnosePipeline wraps a target's diagnosis script.
func diagnosePipeline(dir, name, script string) *executor.Pipeline {
	return &executor.Pipeline{Name: "diagnose", Dir: dir, Steps: []executor.Step{
		{Name: name, Script: script, IgnoreErrors: true, Timeout: time.Minute},
	}}
}

// composeDiagnosis describes each container of a compose project that is
// not running and healthy: its state, exit code, whether it was
// OOM-killed, the end of its health-check log and of its own log.
func composeDiagnosis(dir, project string) *executor.Pipeline {
	return diagnosePipeline(dir, "describe failing containers", fmt.Sprintf(`project=%s
found=0
for id in $(docker ps -aq --filter "label=com.docker.compose.project=$project"); do
  set -- $(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}} {{.State.ExitCode}} {{.State.OOMKilled}} {{.RestartCount}}' "$id")
  case "$2 $3" in "running healthy"|"running -") continue ;; esac
  found=1
  echo "container ${1#/}: $2, health $3, exit code $4, OOM-killed $5, restarts $6"
  if [ "$3" != - ]; then
    echo "  health check log (last 5):"
    docker inspect -f '{{range .State.Health.Log}}exit {{.ExitCode}}: {{.Output}}{{"\n"}}{{end}}' "$id" | sed '/^[[:space:]]*$/d' | tail -n 5 | sed 's/^/    /'
  fi
  echo "  log (last %[2]d lines):"
  docker logs --tail %[2]d "$id" 2>&1 | sed 's/^/    /'
done
if [ "$found" = 0 ]; then echo "every container of $project is running and healthy, or there is none"; fi
`, quoted(project), logLines))
}

// stackDiagnosis describes a Swarm stack's tasks that are not running
// (their state and error) and the end of their services' logs.
func stackDiagnosis(dir, stack string) *executor.Pipeline {
	return diagnosePipeline(dir, "describe failing tasks", fmt.Sprintf(`stack=%s
tasks=$(docker stack ps "$stack" --no-trunc --format '{{.Name}}|{{.CurrentState}}|{{.DesiredState}}|{{.Error}}' 2>&1 | awk -F'|' '$2 !~ /^Running/ || $4 != ""' | head -n 20)
if [ -z "$tasks" ]; then
  echo "every task of $stack is running"
  exit 0
fi
echo "$tasks" | awk -F'|' '{ printf "task %%s: %%s (desired %%s)%%s\n", $1, $2, $3, ($4 != "" ? ", error: " $4 : "") }'
for svc in $(echo "$tasks" | awk -F'|' '{ sub(/\.[0-9]+$/, "", $1); print $1 }' | sort -u); do
  echo "service $svc log (last %[2]d lines):"
  docker service logs --raw --tail %[2]d "$svc" 2>&1 | sed 's/^/    /'
done
`, quoted(stack), logLines))
}

// podTemplate prints each pod that is not Ready: its phase, the
// conditions that are not true, and its containers' waiting reasons and
// last exit codes; "logs NAME" lines list the pods to read logs from.
const podTemplate = `{{range .items}}{{$ready := "False"}}{{range .status.conditions}}{{if eq .type "Ready"}}{{$ready = .status}}{{end}}{{end}}` +
	`{{if ne $ready "True"}}pod {{.metadata.name}}: {{.status.phase}}{{"\n"}}` +
	`{{range .status.conditions}}{{if ne .status "True"}}  condition {{.type}}={{.status}}{{if .reason}} {{.reason}}{{end}}{{if .message}}: {{.message}}{{end}}{{"\n"}}{{end}}{{end}}` +
	`{{range .status.containerStatuses}}{{if .state.waiting}}  container {{.name}} waiting: {{.state.waiting.reason}}{{if .state.waiting.message}}: {{.state.waiting.message}}{{end}}{{"\n"}}{{end}}` +
	`{{if .lastState.terminated}}  container {{.name}} restarted {{.restartCount}} times, last exit code {{.lastState.terminated.exitCode}} ({{.lastState.terminated.reason}}){{"\n"}}{{end}}{{end}}` +
	`{{end}}{{end}}`

// eventTemplate prints one event a line: object, type, reason, message.
const eventTemplate = `{{range .items}}{{.involvedObject.kind}}/{{.involvedObject.name}} {{.type}} {{.reason}}: {{.message}}{{"\n"}}{{end}}`

// kubeDiagnosis describes the app's pods that are not Ready, the
// namespace's recent events about the app's objects (by name prefix),
// and the previous container's log of pods that restarted.
func kubeDiagnosis(dir string, kc func(...string) []string, ns, selector string, names []string) *executor.Pipeline {
	return diagnosePipeline(dir, "describe failing pods", fmt.Sprintf(`pods=$(%[1]s)
if [ -z "$pods" ]; then echo "every pod of the app is ready"; else printf '%%s\n' "$pods"; fi
echo "recent events:"
%[2]s 2>&1 | awk -v names=%[3]s 'BEGIN { n = split(names, a, " ") }
  { split($1, o, "/"); for (i = 1; i <= n; i++) if (o[2] == a[i] || index(o[2], a[i] "-") == 1) { print "  " $0; next } }' | tail -n 20
for pod in $(printf '%%s\n' "$pods" | awk '/restarted/ { print p } /^pod / { p = $2; sub(/:$/, "", p) }' | sort -u); do
  echo "pod $pod: previous container's log (last %[5]d lines):"
  %[4]s "$pod" 2>&1 | sed 's/^/    /'
done
`, quoted(kc("get", "pods", "--namespace", ns, "-l", selector, "-o", "go-template="+podTemplate)...),
		quoted(kc("get", "events", "--namespace", ns, "--sort-by=.metadata.creationTimestamp", "-o", "go-template="+eventTemplate)...),
		quoted(strings.Join(names, " ")),
		quoted(kc("logs", "--namespace", ns, "--previous", "--all-containers", "--tail", fmt.Sprint(logLines))...), logLines))
}
