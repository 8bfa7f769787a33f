package destination

import (
	"path"
	"strings"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/shquote"
	"github.com/ferryhq/ferry/translate"
)

// The scripts below are constant text: values reach them through the
// environment (FERRY_*) or as words quoted by shquote, never by pasting
// unquoted input into shell text.

// lockScript takes the lock (an atomic mkdir), or reports who holds it
// and exits with lockHeld, so that the steps after it in its pipeline do
// not run.
const lockScript = `umask 077
mkdir -p "$FERRY_DIR/.ferry"
cd "$FERRY_DIR/.ferry"
if mkdir lock 2>/dev/null; then
  printf '%s\n' "$FERRY_OWNER" >lock/owner
  echo acquired
else
  echo held
  if [ -f lock/owner ]; then echo "owner $(cat lock/owner)"; fi
  echo "since $(date -r lock +%s 2>/dev/null || echo 0)"
  echo "now $(date +%s)"
  exit 3
fi
`

// lockHeld is the lock script's exit status when the lock is held.
const lockHeld = 3

// historyScript prints the end of the history.
const historyScript = `if [ -f "$FERRY_DIR/.ferry/history.jsonl" ]; then tail -n 200 "$FERRY_DIR/.ferry/history.jsonl"; fi
`

// breakScript removes a stale lock, unless its owner changed meanwhile.
// It renames the lock first, atomically, and looks at the owner of what
// it renamed: two breakers of one stale lock cannot both move it, and a
// breaker that moved a fresh lock (taken after the stale one was broken)
// puts it back instead of removing it.
const breakScript = `cd "$FERRY_DIR/.ferry"
b="lock.broken.$$"
if ! mv lock "$b" 2>/dev/null; then
  echo "the lock is gone already"
  exit 0
fi
if [ "$(cat "$b/owner" 2>/dev/null || true)" = "$FERRY_STALE" ]; then
  rm -rf "$b"
  echo "broke the stale lock"
elif [ ! -e lock ] && mv "$b" lock; then
  echo "the lock changed hands; not broken"
else
  rm -rf "$b"
  echo "the lock changed hands twice; the lock moved aside was dropped" >&2
fi
`

// unlockScript releases the lock if this deploy still holds it.
const unlockScript = `cd "$FERRY_DIR/.ferry"
if [ "$(cat lock/owner 2>/dev/null || true)" = "$FERRY_OWNER" ]; then rm -rf lock; fi
`

// keepScript copies the deployed files into releases/N, points current
// at it and drops the oldest releases beyond FERRY_KEEP.
const keepScript = `umask 077
cd "$FERRY_DIR"
rel=".ferry/releases/$FERRY_RELEASE"
rm -rf "$rel"
mkdir -p "$rel"
if [ -n "${FERRY_FROM:-}" ]; then
  cp -pR ".ferry/releases/$FERRY_FROM/." "$rel"
else printf '%s\n' "$FERRY_FILES" | while IFS= read -r f; do
  [ -n "$f" ] || continue
  mkdir -p "$rel/$(dirname "$f")"
  cp -p "$f" "$rel/$f"
done; fi
ln -sfn "releases/$FERRY_RELEASE" .ferry/current
ls .ferry/releases | sort -n | head -n "-$FERRY_KEEP" | while IFS= read -r old; do
  rm -rf ".ferry/releases/$old"
done
`

// recordScript appends one record to the history.
const recordScript = `umask 077
printf '%s\n' "$FERRY_RECORD" >>"$FERRY_DIR/.ferry/history.jsonl"
`

// restoreScript puts the live release's files back in place.
const restoreScript = `if [ -d .ferry/current ]; then
  cp -pR .ferry/current/. .
  echo "restored the files of release $(basename "$(readlink .ferry/current)")"
else
  echo "no previous release: nothing to restore"
fi
`

// releaseScript puts the files of release FERRY_RELEASE in place.
const releaseScript = `rel=".ferry/releases/$FERRY_RELEASE"
if [ ! -d "$rel" ]; then
  echo "release $FERRY_RELEASE: its files are no longer kept in $PWD/$rel" >&2
  exit 1
fi
cp -pR "$rel/." .
echo "restored the files of release $FERRY_RELEASE"
`

// ifPrevious runs then when a previous release exists, otherwise.
func ifPrevious(then, otherwise string) string {
	if otherwise == "" {
		otherwise = "echo \"no previous release: nothing to do\"\n"
	}
	return "if [ -d .ferry/current ]; then\n" + indent(then) + "else\n" + indent(otherwise) + "fi\n"
}

func indent(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("  ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// statePipeline returns a one-step pipeline working on the app's state.
func statePipeline(name, dir string, step executor.Step) *executor.Pipeline {
	step.Env = append([]string{"FERRY_DIR=" + dir}, step.Env...)
	return &executor.Pipeline{Name: name, Steps: []executor.Step{step}}
}

// restorePipeline puts the live release's files back after a failed
// upload, without applying anything.
func restorePipeline(dir string) *executor.Pipeline {
	return &executor.Pipeline{Name: "restore", Dir: dir, Steps: []executor.Step{
		{Name: "restore previous files", Script: restoreScript},
	}}
}

// placeFiles checks the translator's files and places them under dir.
func placeFiles(dir string, files []translate.File) ([]translate.File, error) {
	if err := checkFiles(files); err != nil {
		return nil, err
	}
	out := make([]translate.File, len(files))
	for i, f := range files {
		f.Mode = fileMode(f)
		f.Path = path.Join(dir, f.Path)
		out[i] = f
	}
	return out, nil
}

// relFiles returns the files' paths relative to dir.
func relFiles(dir string, files []translate.File) []translate.File {
	out := make([]translate.File, len(files))
	for i, f := range files {
		f.Path = strings.TrimPrefix(f.Path, dir+"/")
		out[i] = f
	}
	return out
}

// mkdirStep creates the directories the files need.
func mkdirStep(files []translate.File) (executor.Step, bool) {
	dirs := fileDirs(files)
	if len(dirs) == 0 {
		return executor.Step{}, false
	}
	return executor.Step{Name: "create directories", Args: append([]string{"mkdir", "-p"}, dirs...)}, true
}

// quoted joins words for a script line.
func quoted(words ...string) string { return shquote.Join(words) }

// numbersScript sets rel to the next release's number and prev to the
// live release's (0 for none), from the history as the lock step reads
// it (its last 200 records), as [deployment.number] and [live] find
// them: the highest release plus one, and the last successful record's
// release, unless that record is a removal. It reads only the fields
// that start a record and the outcome: ferry writes the history, and
// in its JSON a key never appears inside a value, whose quotes are
// escaped.
const numbersScript = `h="$FERRY_DIR/.ferry/history.jsonl"
set -- $( { if [ -f "$h" ]; then tail -n 200 "$h"; fi; } | awk '
match($0, /^\{"release":[0-9]+,/) {
  r = substr($0, 12, RLENGTH - 12) + 0
  if (r > max) max = r
  if ($0 ~ /,"outcome":"succeeded"/) live = ($0 ~ /^\{"release":[0-9]+,"action":"remove",/) ? 0 : r
}
END { print max + 1, live + 0 }')
rel=$1 prev=$2
`

// appendScript appends the record of a release numbered on the host
// (see [numbersScript]) to the history: FERRY_RECORD, FERRY_RECORD_TIME
// and FERRY_RECORD_END are its JSON around the release number, the
// previous release and the seconds, counted from when the lock was
// taken.
const appendScript = `t0=$(date -r "$FERRY_DIR/.ferry/lock/owner" +%s.%N 2>/dev/null || true)
t1=$(date +%s.%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { d = b - a; if (a == "" || d < 0) d = 0; printf "%.3f", d }')
p=
if [ "$prev" -gt 0 ]; then p=",\"previous\":$prev"; fi
umask 077
printf '{"release":%s%s%s%s%s%s\n' "$rel" "$FERRY_RECORD" "$p" "$FERRY_RECORD_TIME" "$secs" "$FERRY_RECORD_END" >>"$h"
`
