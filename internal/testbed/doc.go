// Package testbed starts the third-party AWS emulators the tests use, goaws
// (SQS, SNS) and dynalite (DynamoDB), as processes on free loopback ports,
// and stops them when the test ends.
//
// scripts/testbed-install puts both into the module's .testbed folder. Where
// they are missing, a test fails with a message naming that command; it does
// not skip.
package testbed
