// Package sandbox runs ecs-deploy with nothing installed beyond Go: every
// AWS service a deploy touches is served in the same process, on loopback
// HTTP, behind the real SDK clients.
//
//   - SQS and SNS: goaws (github.com/Admiral-Piett/goaws) as a library. Its
//     state is global, so a process runs one Stack at a time.
//   - DynamoDB: minidyn (github.com/truora/minidyn/server), behind a small
//     handler that fills in what it lacks (dynamoFront).
//   - ECS, ELBv2 and CloudWatch: the project's emulator, internal/awsim,
//     with a demo app seeded.
//
// On top of the Stack, Provision creates the queues, topic, subscriptions
// and tables the daemon uses, WriteFiles writes a deploy config and an
// artifacts file matching the seeded app, and Story plays a short series of
// deploys against a running daemon and prints them as a timeline.
// `go run ./cmd/daemon -sandbox` puts these together.
package sandbox
