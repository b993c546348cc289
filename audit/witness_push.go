package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// pusher sends the Checkpointer's newest checkpoint to one witness, with a
// consistency proof from the size the witness last cosigned, and keeps the
// cosignature. It learns the witness's size from its 409 answers, so it
// needs no state of its own.
type pusher struct {
	c    *Checkpointer
	w    WitnessConfig
	wake chan struct{}
	size int64 // the size the witness is believed to be at

	mu     sync.Mutex // guards status
	status WitnessStatus
}

// WitnessStatus is how a witness is doing, for status pages and metrics.
type WitnessStatus struct {
	Name, URL string
	// Cosigned is the size of the newest checkpoint it cosigned (0 when
	// none yet, in this process); LastSuccess when it did.
	Cosigned    int64
	LastSuccess time.Time
	// LastError is its last failure (unreachable, refusing, answering
	// garbage), at LastErrorAt; it is current when after LastSuccess.
	LastError   string
	LastErrorAt time.Time
}

// Up reports whether the witness's last push succeeded.
func (s WitnessStatus) Up() bool {
	return !s.LastSuccess.IsZero() && !s.LastSuccess.Before(s.LastErrorAt)
}

func (p *pusher) record(err error, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if err != nil {
		p.status.LastError, p.status.LastErrorAt = err.Error(), now
		return
	}
	if size > p.status.Cosigned {
		p.status.Cosigned = size
	}
	p.status.LastSuccess = now
}

// Witnesses reports each configured witness's status, in config order.
func (c *Checkpointer) Witnesses() []WitnessStatus {
	out := make([]WitnessStatus, 0, len(c.pus))
	for _, p := range c.pus {
		p.mu.Lock()
		st := p.status
		p.mu.Unlock()
		st.Name, st.URL = p.w.Verifier.Name(), p.w.URL
		out = append(out, st)
	}
	return out
}

// pushRetry is how long a pusher waits after a failure before trying again
// without being woken.
const pushRetry = 2 * time.Second

func (p *pusher) notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *pusher) run(ctx context.Context) {
	retry := time.NewTimer(pushRetry)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-retry.C:
		}
		size, err := p.push(ctx)
		if ctx.Err() != nil {
			return
		}
		if size > 0 || err != nil {
			p.record(err, size)
		}
		if err != nil {
			p.c.log.Error("witness did not cosign the audit checkpoint", "witness", p.w.Verifier.Name(), "url", p.w.URL, "err", err)
			retry.Reset(pushRetry)
		}
	}
}

// push submits the newest checkpoint unless the witness already cosigned
// it, and returns the size it has cosigned (0 when there is no checkpoint
// yet).
func (p *pusher) push(ctx context.Context) (int64, error) {
	signed, cp, cos := p.c.latest()
	if signed == nil {
		return 0, nil
	}
	if cos[p.w.Verifier.Name()] != nil {
		return cp.Size, nil
	}
	for attempt := 0; attempt < 3; attempt++ {
		lines, err := p.submit(ctx, cp, signed)
		var conflict *WitnessConflictError
		if errors.As(err, &conflict) {
			p.size = conflict.Size
			continue
		}
		if err != nil {
			return 0, err
		}
		if err := p.keep(ctx, cp, signed, lines); err != nil {
			return 0, err
		}
		p.size = cp.Size
		return cp.Size, nil
	}
	return 0, fmt.Errorf("witness %s keeps answering with another size (last %d)", p.w.Verifier.Name(), p.size)
}

func (p *pusher) submit(ctx context.Context, cp Checkpoint, signed []byte) ([]byte, error) {
	if p.size > cp.Size {
		return nil, &WitnessRefusedError{Reason: fmt.Sprintf("rollback: the witness cosigned size %d, the log is at %d", p.size, cp.Size)}
	}
	var proof tlog.TreeProof
	if p.size > 0 && p.size < cp.Size {
		var err error
		if proof, err = ProveConsistency(p.size, cp.Size, p.c.cfg.Store); err != nil {
			return nil, err
		}
	}
	return p.w.Client.AddCheckpoint(ctx, p.size, proof, signed)
}

// keep checks the cosignature with the witness's key and stores it.
func (p *pusher) keep(ctx context.Context, cp Checkpoint, signed, lines []byte) error {
	n, err := note.Open(AddCosignatures(signed, lines), note.VerifierList(p.w.Verifier))
	if err != nil {
		return fmt.Errorf("cosignature of size %d: %w", cp.Size, err)
	}
	if len(n.Sigs) == 0 {
		return fmt.Errorf("cosignature of size %d: no signature by %s", cp.Size, p.w.Verifier.Name())
	}
	if err := p.c.cfg.Store.AddCosignature(ctx, cp.Size, p.w.Verifier.Name(), lines); err != nil {
		return fmt.Errorf("keep cosignature of size %d: %w", cp.Size, err)
	}
	p.c.cosigned(cp.Size, p.w.Verifier.Name(), lines)
	return nil
}
