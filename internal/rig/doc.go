// Package rig is the stage scripts/bench and scripts/torture run on: the
// real daemon as processes, against goaws (SQS, SNS), dynalite (DynamoDB)
// and the emulator (ECS, ELBv2, CloudWatch, in this process), all on
// loopback HTTP behind the real SDK clients.
//
// Between the daemons and each service stands a front, a reverse proxy
// that
//
//   - counts every call by service, operation, caller and answer (Calls);
//   - injects faults (internal/faults) when told to;
//   - taps what the measurements and the checks need: every event
//     published to SNS (EventTap), every state the deploy locks went
//     through (LockHistory);
//   - and makes goaws report each message's SentTimestamp as SQS does,
//     the time it was sent (goaws reports the time of receipt).
//
// A Rig stops everything it started when it is closed: the daemons (each
// in its own process group, killed with this process if it dies first),
// goaws and dynalite, and its HTTP servers.
package rig
