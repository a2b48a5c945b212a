// Package e2e holds the end-to-end tests: the daemon and enqueue built and
// run as real processes against goaws, dynalite and the emulator.
package e2e
