// Package destination deploys an app, or a stack of services, to where
// it runs: a Docker host ([Docker]), a Swarm manager ([Swarm]) or a
// Kubernetes cluster reached through a host that has kubectl
// ([Kubernetes]).
//
// # Plans
//
// A [Target] turns a [translate.Stack] (one or more services; a single
// [translate.App] is a stack of one) into a [Plan]: the files to upload
// and the pipelines to run on the host, as data, with the warnings of
// what the target cannot express. Planning does no I/O, so
// a plan can be printed before anything runs ([Plan.String] is the dry
// run), compared in tests and logged.
//
// # Deploying
//
// [Deploy] runs a plan on one host through an [executor.Executor]:
//
//  1. take the app's deploy lock on the host (an atomic mkdir);
//  2. run the plan's Check pipeline (tools present, access, network);
//  3. upload the files, each written atomically;
//  4. run Apply, then Verify within the target's deadline;
//  5. on failure, gather the target's diagnostics ([Plan.Diagnose]), then
//     run Rollback: the previous release's files come back and are
//     applied again (for a single app Kubernetes also runs kubectl
//     rollout undo); a failed first release is removed instead
//     ([OutcomeRemoved]);
//  6. record the outcome in the app's history on the host, keep a copy of
//     a successful release's files, and release the lock.
//
// When there is nothing to build or log in to first and every file is
// small text, steps 1 to 6 of a deploy that succeeds go to the host as
// one script on one session, the files inside it: one round trip on a
// warm connection, three on a new one (open the session, start it, run
// it). Only a failure costs more.
//
// Every step is streamed to [Options.Observer] as it runs and recorded in
// the returned [Report]. [Rollback] goes back to the previous successful
// release, or to any kept release by number, on request, [Remove] takes
// the app down (keeping its volumes unless told otherwise), and
// [History] lists what was deployed.
//
// # State on the host
//
// Each app has a directory on the host (see [Plan.Dir]) that holds its
// files and, under ".ferry", its state:
//
//	.ferry/lock/owner      the deploy lock and who holds it
//	.ferry/history.jsonl   one JSON record per deploy or rollback
//	.ferry/releases/N/     the files of successful release N
//	.ferry/current         a symlink to the live release
//	.ferry/networks        the Docker networks ferry created for the app
//	.ferry/listed          the app's Kubernetes objects, as the check listed them
package destination
