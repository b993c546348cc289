package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/failsmall/breakglass/server"
)

// runInit pins the first signed policy bundle of a broker's data folder.
func runInit(ctx context.Context, c *cli, args []string) error {
	flags := c.newFlags("init")
	config := flags.String("config", "", "the broker's YAML config (for name and data)")
	data := flags.String("data", "./breakglass-data", "the broker's data folder")
	name := flags.String("name", "", "the broker's name (as `serve` will use it)")
	pos, err := parse(flags, args, 1, 1, "BUNDLE")
	if err != nil {
		return err
	}
	set := map[string]bool{}
	flags.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg := serveFile{Data: *data, Name: *name}
	if *config != "" {
		if err := readServeFile(*config, &cfg, set); err != nil {
			return err
		}
	}
	if cfg.Name == "" {
		return errUsage("no broker name: pass --name or --config, the same as for `breakglass serve`")
	}
	raw, err := os.ReadFile(pos[0])
	if err != nil {
		return fmt.Errorf("read the bundle: %w", err)
	}
	s, err := server.Open(ctx, server.Config{Name: cfg.Name, Data: server.Dir(cfg.Data)})
	if err != nil {
		return err
	}
	b, err := s.Service().Pin(ctx, raw, "init")
	if cerr := s.Close(ctx); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	if err := server.WriteBundleFiles(server.Dir(cfg.Data), b, nil); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "pinned policy bundle serial %d %s in %s\n", b.Serial, b.Hash, cfg.Data)
	return nil
}
