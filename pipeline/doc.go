// Package pipeline carries one deploy request through the twelve blue/green
// steps under a DynamoDB lock, so a deploy that dies at any point can be
// resumed or started over and still ends in a correct state: one PRIMARY
// task set, behind the lower-priority (serving) listener rule.
//
// It takes narrow interfaces in the SDK's own shape (ECSAPI, ELBAPI,
// CloudWatchAPI), an ArtifactDB, a Locker and an event Sink, and returns
// errors; it imports no messaging library and logs only through the logger in
// the context it is given.
package pipeline
