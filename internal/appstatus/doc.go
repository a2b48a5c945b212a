// Package appstatus tells what is deployed where, as the original tool's
// ecs-app-status did: per app and environment, the colour serving and its
// task definition, the build and config SHA it runs, the task set kept for
// a rollback, and any deploy running now, with its step and who asked.
//
// It reads the listener's rules and the service's task sets through the
// SDK, the deploy status from the lock table (pipeline.Locker), and, for
// task sets the last status does not name, the request records. It changes
// nothing. `enqueue status`, the daemon's status page and the sandbox use it.
package appstatus
