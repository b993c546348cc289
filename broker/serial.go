package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// serialBlock is how many SSH certificate serials a broker reserves at a
// time. Serials of a block left unused (the broker stopped) are never
// handed out: a serial only has to be unique and non-zero.
const serialBlock = 128

// serials hands out the SSH certificate serials of a block reserved in the
// store, so that minting a certificate needs no write of its own.
type serials struct {
	mu        sync.Mutex
	free, end uint64 // free is the next to hand out; end is one past the block
}

// next returns a serial never handed out before by any broker sharing the
// store, reserving a new block when this one is used up.
func (sr *serials) next(ctx context.Context, st Store) (uint64, error) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if sr.free < sr.end {
		n := sr.free
		sr.free++
		return n, nil
	}
	for range maxPlans {
		var last uint64
		if err := st.View(ctx, func(tx Tx) error {
			var err error
			last, err = tx.LastSerial()
			return err
		}); err != nil {
			return 0, err
		}
		err := st.Commit(ctx, &Change{Ops: []Op{ReserveSerials{After: last, Count: serialBlock}}})
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("reserve SSH certificate serials: %w", err)
		}
		sr.free, sr.end = last+2, last+1+serialBlock
		return last + 1, nil
	}
	return 0, fmt.Errorf("%w: reserving SSH certificate serials conflicted %d times in a row", ErrConflict, maxPlans)
}
