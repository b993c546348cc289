package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// CheckpointStore is the committed log a Checkpointer signs. Its methods
// see only committed data.
type CheckpointStore interface {
	// ReadHashes returns committed stored hashes (tlog.HashReader).
	ReadHashes(indexes []int64) ([]tlog.Hash, error)
	// Size returns the number of committed entries.
	Size(ctx context.Context) (int64, error)
	// Latest returns the newest recorded signed checkpoint (log signature
	// only); it MUST return an error wrapping ErrMissing when there is none.
	Latest(ctx context.Context) ([]byte, error)
	// Record durably stores a signed checkpoint of the first size entries.
	// It MUST fail with an error wrapping ErrCheckpointExists, storing
	// nothing, when a checkpoint of that size or larger is recorded.
	Record(ctx context.Context, size int64, signed []byte) error
	// AddCosignature durably keeps a witness's cosignature lines for the
	// recorded checkpoint of that size.
	AddCosignature(ctx context.Context, size int64, witness string, lines []byte) error
}

// ErrCheckpointExists: another writer recorded a checkpoint at least as
// large; the Checkpointer re-reads it instead.
var ErrCheckpointExists = errors.New("a checkpoint of that size or larger is recorded")

// WitnessConfig names a witness the Checkpointer pushes checkpoints to.
type WitnessConfig struct {
	URL string // the witness's address, for logs
	// Verifier is the witness's cosignature/v1 key; its name is the
	// witness's name.
	Verifier note.Verifier
	// Client submits the checkpoints (witness.Client over HTTP); required.
	Client WitnessClient
}

// CheckpointerConfig configures NewCheckpointer. Store and Signer are
// required.
type CheckpointerConfig struct {
	Store    CheckpointStore
	Signer   note.Signer   // the log key; its name is the origin
	Verifier note.Verifier // the log's verifier key, to open File
	// File, when set, receives every new checkpoint (atomically, never an
	// older one), outside the database, so a database restored from an
	// old backup is caught at start (see CheckFile).
	File string
	// Mirror, when set, is a second checkpoint file kept in another place
	// (the broker keeps it beside its signing keys), written and checked
	// as File is: moving one file away no longer lets an older database
	// start.
	Mirror    string
	Witnesses []WitnessConfig
	Logger    *slog.Logger
	// MinInterval spaces the checkpoints the background loop signs or
	// publishes (file write, witness pushes), so that their fsyncs don't
	// compete with every commit; zero means DefaultMinInterval. Sync, as
	// called for a receipt, is never delayed.
	MinInterval time.Duration
}

// CommitSigner returns a function that signs the checkpoint of a log of size
// entries with root hash root, for a store that records each commit's
// checkpoint in the commit itself (sqlite.Options.SignCheckpoint).
func CommitSigner(s note.Signer) func(size int64, root tlog.Hash) ([]byte, error) {
	return func(size int64, root tlog.Hash) ([]byte, error) {
		return Sign(Checkpoint{Origin: s.Name(), Size: size, Hash: root}, s)
	}
}

// DefaultMinInterval is CheckpointerConfig.MinInterval's default.
const DefaultMinInterval = 100 * time.Millisecond

// Checkpointer signs a checkpoint of the committed log after writes:
// Notify wakes it, and writes arriving together share one checkpoint. It
// records each checkpoint in the store, writes it to the checkpoint file,
// and pushes it to the witnesses, keeping their cosignatures.
type Checkpointer struct {
	cfg  CheckpointerConfig
	log  *slog.Logger
	wake chan struct{}
	stop context.CancelFunc
	ctx  context.Context
	wg   sync.WaitGroup
	pus  []*pusher

	mu       sync.Mutex // serializes sign: one checkpoint at a time
	fileSize int64      // size of the checkpoint in File, -1 if none

	cur   sync.Mutex // guards latest and cosigs
	cp    Checkpoint
	sig   []byte            // the newest checkpoint, log signature only
	cosig map[string][]byte // witness name -> cosignature lines of sig
}

// NewCheckpointer checks the checkpoint file against the store (CheckFile:
// a database behind it is refused), signs the committed log if it is ahead
// of its newest checkpoint, and starts the goroutines that sign after
// Notify and push to the witnesses. Close stops them.
func NewCheckpointer(ctx context.Context, cfg CheckpointerConfig) (*Checkpointer, error) {
	if cfg.Store == nil || cfg.Signer == nil || cfg.Verifier == nil {
		return nil, errors.New("checkpointer: store, signer and verifier are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for _, w := range cfg.Witnesses {
		if w.Verifier == nil || w.Client == nil {
			return nil, fmt.Errorf("checkpointer: witness %q needs a verifier key and a client", w.URL)
		}
	}
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = DefaultMinInterval
	}
	c := &Checkpointer{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), fileSize: -1}
	for i, f := range c.files() {
		fc, err := CheckFile(ctx, f, cfg.Verifier, cfg.Store)
		if err != nil {
			return nil, err
		}
		switch {
		case fc == nil:
			c.fileSize = -1 // a missing file is written at once
		case i == 0 || fc.Size < c.fileSize:
			c.fileSize = fc.Size
		}
	}
	if err := c.loadLatest(ctx); err != nil {
		return nil, err
	}
	if _, _, err := c.Sync(ctx); err != nil {
		return nil, err
	}
	c.ctx, c.stop = context.WithCancel(context.Background())
	for _, w := range cfg.Witnesses {
		p := &pusher{c: c, w: w, wake: make(chan struct{}, 1)}
		c.pus = append(c.pus, p)
		c.wg.Add(1)
		go func() { defer c.wg.Done(); p.run(c.ctx) }()
		p.notify()
	}
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.run() }()
	return c, nil
}

// loadLatest reads the newest recorded checkpoint into memory.
func (c *Checkpointer) loadLatest(ctx context.Context) error {
	signed, err := c.cfg.Store.Latest(ctx)
	if errors.Is(err, ErrMissing) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checkpointer: %w", err)
	}
	cp, _, err := Open(signed, c.cfg.Verifier)
	if err != nil {
		return fmt.Errorf("checkpointer: newest recorded checkpoint: %w", err)
	}
	c.setLatest(cp, signed)
	return nil
}

// Notify asks for a checkpoint of everything committed so far. It never
// blocks: wakes arriving while a checkpoint is being signed fold into the
// next one.
func (c *Checkpointer) Notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Checkpointer) run() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.wake:
		}
		if _, _, err := c.Sync(c.ctx); err != nil && c.ctx.Err() == nil {
			c.log.Error("audit checkpoint failed; retrying after the next write", "err", err)
		}
		select { // wakes meanwhile fold into one
		case <-c.ctx.Done():
			return
		case <-time.After(c.cfg.MinInterval):
		}
	}
}

// Sync signs and records a checkpoint of the committed log unless the
// newest one already covers it, and returns the newest checkpoint (with the
// cosignatures kept so far).
func (c *Checkpointer) Sync(ctx context.Context) ([]byte, Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	size, err := c.cfg.Store.Size(ctx)
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	if signed, cp := c.Latest(); signed != nil && cp.Size >= size {
		return signed, cp, nil
	}
	// The writer may have signed it in the commit itself (sqlite's
	// SignCheckpoint): then only publish it.
	if err := c.loadLatest(ctx); err != nil {
		return nil, Checkpoint{}, err
	}
	if signed, cp, _ := c.latest(); signed != nil && cp.Size >= size {
		c.publish(cp, signed)
		signed, cp = c.Latest()
		return signed, cp, nil
	}
	hash, err := TreeHash(size, c.cfg.Store)
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("checkpoint of size %d: %w", size, err)
	}
	cp := Checkpoint{Origin: c.cfg.Signer.Name(), Size: size, Hash: hash}
	signed, err := Sign(cp, c.cfg.Signer)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	err = c.cfg.Store.Record(ctx, size, signed)
	if errors.Is(err, ErrCheckpointExists) { // another process got there first
		if err := c.loadLatest(ctx); err != nil {
			return nil, Checkpoint{}, err
		}
		signed, cp := c.Latest()
		return signed, cp, nil
	}
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("record checkpoint of size %d: %w", size, err)
	}
	c.setLatest(cp, signed)
	c.publish(cp, signed)
	signed, cp = c.Latest()
	return signed, cp, nil
}

// publish writes a new checkpoint to the checkpoint file and wakes the
// witness pushers.
func (c *Checkpointer) publish(cp Checkpoint, signed []byte) {
	if err := c.writeFile(cp, signed); err != nil {
		c.log.Error("could not write the checkpoint file", "err", err)
	}
	for _, p := range c.pus {
		p.notify()
	}
}

func (c *Checkpointer) setLatest(cp Checkpoint, signed []byte) {
	c.cur.Lock()
	defer c.cur.Unlock()
	if c.sig != nil && cp.Size < c.cp.Size {
		return
	}
	c.cp, c.sig, c.cosig = cp, signed, map[string][]byte{}
}

// Latest returns the newest checkpoint with the witness cosignatures kept
// for it so far; nil before the first one.
func (c *Checkpointer) Latest() ([]byte, Checkpoint) {
	signed, cp, cos := c.latest()
	for _, w := range c.cfg.Witnesses {
		signed = AddCosignatures(signed, cos[w.Verifier.Name()])
	}
	return signed, cp
}

// latest returns the newest checkpoint, log signature only, and a copy of
// its cosignatures.
func (c *Checkpointer) latest() ([]byte, Checkpoint, map[string][]byte) {
	c.cur.Lock()
	defer c.cur.Unlock()
	cos := make(map[string][]byte, len(c.cosig))
	for k, v := range c.cosig {
		cos[k] = v
	}
	return c.sig, c.cp, cos
}

// cosigned keeps a witness's cosignature of the checkpoint of size.
func (c *Checkpointer) cosigned(size int64, witness string, lines []byte) {
	c.cur.Lock()
	defer c.cur.Unlock()
	if c.cp.Size == size {
		c.cosig[witness] = lines
	}
}

// Close stops signing and pushing, after a last checkpoint of what is
// committed (recorded and written to the file; not pushed). Writes committed
// after Close are checkpointed at the next start.
func (c *Checkpointer) Close() {
	c.stop()
	c.wg.Wait()
	if _, _, err := c.Sync(context.Background()); err != nil {
		c.log.Warn("last checkpoint at close", "err", err)
	}
}
