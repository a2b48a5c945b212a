// Package testbed starts the third-party AWS emulators the tests use, goaws
// (SQS, SNS) and dynalite (DynamoDB), as processes on free loopback ports:
// Goaws and Dynalite for a test, stopped when it ends; StartGoaws and
// StartDynalite for programs such as the benchmark (internal/tools/bench),
// stopped by Process.Stop. Each runs in its own process group and is
// killed if the process that started it dies.
//
// scripts/testbed-install puts both into the module's .testbed folder. Where
// they are missing, a test fails with a message naming that command; it does
// not skip.
package testbed
