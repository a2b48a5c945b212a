// Package awsim emulates the parts of Amazon ECS, Elastic Load Balancing v2
// and CloudWatch that a blue/green deploy touches, over their real wire
// protocols, so unmodified SDK clients and the AWS CLI work against it.
//
// State changes that take time on AWS (tasks starting, targets passing health
// checks, connections draining) are events on a simulated clock whose speed is
// set by Config.TimeScale: a minute of rollout can take a fraction of a second
// in tests and a real minute in a demo. Events are applied lazily, in time
// order, before each call is served, so what a client observes is as if the
// emulator had been running in real time.
//
// Besides the AWS APIs, a Server offers controls (seeding a scenario, faults,
// the clock, alarm states) as Go methods and over HTTP under /_awsim/, a log of
// the calls it received, and a record of downtime: every interval in which a
// listener's serving rule forwarded to target groups with no healthy target.
//
// ECS reads can be made eventually consistent, as the ECS API documents
// itself to be (Server.SetConsistency, or POST /_awsim/consistency): reads
// made shortly after a change may then miss it for up to a set delay, the way
// a client on AWS sees a task set it just created reported MISSING. It is off
// by default.
package awsim
