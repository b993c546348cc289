// Package audit is the storage-independent core of breakglass's verifiable
// audit log: an RFC 6962 Merkle tree of canonical entries, modelled on
// golang.org/x/mod/sumdb (tlog, note) and the C2SP specs.
//
//   - Entry: the canonical, strictly parsed leaf encoding.
//   - StoredHashes, TreeHash, Prove*/Check*: the writer side, over a
//     tlog.HashReader the storage adapter provides.
//   - Checkpoint, Sign, Open: c2sp.org/tlog-checkpoint signed notes.
//   - Receipt: a c2sp.org/tlog-proof inclusion proof that travels with a
//     credential and verifies offline.
//   - VerifyLog: an independent full check of a stored log, built on
//     github.com/transparency-dev/merkle instead of tlog, returning typed
//     errors with evidence.
//   - CosignatureSigner/Verifier: c2sp.org/tlog-cosignature (key type
//     0x04, which golang.org/x/mod/sumdb/note does not implement).
//   - Checkpointer: signs a checkpoint after committed writes (grouped),
//     records it through a CheckpointStore, writes the checkpoint file that
//     CheckFile uses to refuse a rolled-back database, and pushes each
//     checkpoint to the witnesses through a WitnessClient, keeping their
//     cosignatures.
//
// The witness itself, its server and the HTTP WitnessClient, is package
// witness. This package does no I/O except the checkpoint file, and imports
// no network code, so the relying party's verifier (package offline) can
// check receipts with it.
package audit
