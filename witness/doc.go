// Package witness is a c2sp.org/tlog-witness over HTTP: the Server that
// cosigns the checkpoints of the logs it knows, only when they are
// consistent with the last one it cosigned for that log (so a log cannot
// fork or roll back without one history lacking cosignatures), and the
// Client a broker's audit.Checkpointer submits its checkpoints with.
//
// The checks of the log and of cosignatures stay in package audit, which
// has no network code; this package adds the wire: the add-checkpoint
// request and its answers, and the server's durable state, the last
// cosigned checkpoint per log origin in one directory.
package witness
