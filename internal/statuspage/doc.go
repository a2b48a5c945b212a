// Package statuspage is the daemon's read-only status page, served on its
// health address: what serves where (internal/appstatus) and each recent
// deploy's steps drawn as a timeline, from a bounded in-memory record of
// the events the daemon published (Recent, fed by the event sink).
package statuspage
