// Package awsproto knows just enough of the AWS wire protocols (JSON 1.0/1.1,
// query with XML answers, and Smithy RPC v2 CBOR) to name the operation a
// request calls and to answer with an error in the shape the SDKs parse.
//
// The emulator and the fault-injecting proxy share it, so a fault injected in
// front of goaws, dynalite or the emulator looks the same to a client as one
// the real service would send.
package awsproto
