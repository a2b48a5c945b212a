// Package docker holds no Go code: its test checks that the compose file,
// the Dockerfile and .ci/run agree, since no container engine runs here to
// build them.
package docker
