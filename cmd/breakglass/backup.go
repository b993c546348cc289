package main

import (
	"context"
	"fmt"

	"github.com/failsmall/breakglass/server"
)

// runBackup takes a consistent copy of a data folder's database, with the
// checkpoint it extends, while the broker runs or not.
func runBackup(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("backup")
	data := fs.String("data", "./breakglass-data", "the broker's data folder")
	out := fs.String("out", "", "the backup folder to create (required; it must not exist)")
	if _, err := parse(fs, args, 0, 0, "--out DIR"); err != nil {
		return err
	}
	if *out == "" {
		return errUsage("--out DIR is required: the new folder the backup goes in")
	}
	info, err := server.TakeBackup(ctx, server.Dir(*data), *out)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "backed up %s to %s: %d audit entries, with the checkpoint of size %d (the signing keys stay in %s: keep a copy of them apart)\n",
		*data, info.Dir, info.Entries, info.Checkpoint, *data)
	return nil
}

// runRestore puts a backup back as a stopped broker's database.
func runRestore(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("restore")
	data := fs.String("data", "./breakglass-data", "the broker's data folder (every broker on it stopped)")
	yes := fs.Bool("yes", false, "restore without asking")
	pos, err := parse(fs, args, 1, 1, "[--data DIR] [--yes] BACKUP")
	if err != nil {
		return err
	}
	if !*yes {
		fmt.Fprintf(c.stdout, "Restoring %s into %s undoes every request, approval, grant and revocation made since the backup:\n"+
			"credentials issued since stay valid until they expire and can no longer be revoked here.\n", pos[0], *data)
		if !c.confirm("Restore? [y/N] ") {
			return fmt.Errorf("not restored: you did not confirm")
		}
	}
	info, err := server.Restore(ctx, server.Dir(*data), pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "restored %s from %s: its log has %d entries", *data, pos[0], info.BackupEntries)
	if info.ReplacedFile != "" {
		fmt.Fprintf(c.stdout, "; the replaced database (%d entries, %d of them now gone) is kept as %s",
			info.Replaced, max(info.Replaced-info.BackupEntries, 0), info.ReplacedFile)
	}
	fmt.Fprintf(c.stdout, "\nrecorded broker.restored in the audit log; start the broker again\n")
	return nil
}
