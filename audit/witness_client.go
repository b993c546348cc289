package audit

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// WitnessClient asks one witness to cosign a checkpoint, per
// c2sp.org/tlog-witness add-checkpoint. The Checkpointer's pushers use it;
// package witness has the HTTP one (witness.Client) and the server.
type WitnessClient interface {
	// AddCheckpoint submits signedCheckpoint (log signature only) with a
	// consistency proof from oldSize, the size the witness is believed to
	// be at, and returns the witness's cosignature lines ("— name sig\n"...)
	// to append to it (AddCosignatures); the caller verifies them. It MUST
	// return an error matching ErrWitnessConflict, a *WitnessConflictError
	// with the witness's size, when the witness is at another size, and
	// one matching ErrWitnessRefused when the witness refuses a fork or a
	// rollback.
	AddCheckpoint(ctx context.Context, oldSize int64, proof tlog.TreeProof, signedCheckpoint []byte) ([]byte, error)
}

// ErrWitnessConflict: the witness is at another size than the old size the
// log sent. Retry with the size in the *WitnessConflictError.
var ErrWitnessConflict = errors.New("witness conflict")

// ErrWitnessRefused: the witness will not cosign because the checkpoint
// forks or rolls back the history it cosigned. Do not retry: investigate.
var ErrWitnessRefused = errors.New("witness refused checkpoint")

// WitnessConflictError carries the size of the witness's latest cosigned
// checkpoint. It matches ErrWitnessConflict with errors.Is.
type WitnessConflictError struct{ Size int64 }

func (e *WitnessConflictError) Error() string {
	return fmt.Sprintf("witness conflict: the witness is at size %d; send a consistency proof from there", e.Size)
}

func (e *WitnessConflictError) Is(target error) bool { return target == ErrWitnessConflict }

// WitnessRefusedError says why a witness refused: a fork or a rollback. It
// matches ErrWitnessRefused with errors.Is. Status is the HTTP status of
// the refusal, 0 when the client refused before asking.
type WitnessRefusedError struct {
	Status int
	Reason string
}

func (e *WitnessRefusedError) Error() string {
	return fmt.Sprintf("witness refused checkpoint (%d): %s", e.Status, e.Reason)
}

func (e *WitnessRefusedError) Is(target error) bool { return target == ErrWitnessRefused }

// AddCosignatures returns signed with the cosignature lines appended: a
// signed note carrying the log signature and the witness cosignatures.
func AddCosignatures(signed, cosignatures []byte) []byte {
	out := make([]byte, 0, len(signed)+len(cosignatures))
	return append(append(out, signed...), cosignatures...)
}
