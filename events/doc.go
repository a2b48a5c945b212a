// Package events will hold the deploy request and event types, their JSON
// form and validation (issue 4). It is the leaf of the import graph: it
// imports the standard library only.
package events
