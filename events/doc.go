// Package events holds the types ecs-deploy publishes and consumes, with
// their JSON form: deploy events now; the deploy request and its validation
// come with the daemon (issue 4). It is the leaf of the import graph: it
// imports the standard library only.
package events
