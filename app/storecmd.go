package app

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/shipbridge/shipbridge/store"
)

// storeCommand is `shipbridge store`, the commands that look after the store file.
func (e *env) storeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Look after the store file (store.path)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(e.storeCheckCommand())
	return cmd
}

func (e *env) storeCheckCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Check the store file for damage, without changing it",
		Long: "Check the store file (store.path) without changing it: the structure of every bbolt page,\n" +
			"bbolt's own consistency check, and that every order record and history event decodes.\n" +
			"It prints what it found and exits non-zero when the store is damaged (restore a backup, see\n" +
			"README), was written by a newer shipbridge, is missing, or is locked by a running shipbridge\n" +
			"(stop it first, or check a copy taken from http://…/backup).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := e.setupWith(validateForStore)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			rep, err := store.Check(cfg.Store.Path, store.Options{})
			if werr := writeCheckReport(cmd.OutOrStdout(), rep, err); werr != nil {
				return fail(ExitFailure, werr)
			}
			if err != nil {
				if errors.Is(err, store.ErrLocked) {
					err = fmt.Errorf("%w; stop it first (e.g. systemctl stop shipbridge), or check a copy taken with GET /backup", err)
				}
				return fail(ExitFailure, err)
			}
			return nil
		},
	}
}

// writeCheckReport prints the result of store.Check.
func writeCheckReport(w io.Writer, rep store.CheckReport, err error) error {
	var out []string
	out = append(out, fmt.Sprintf("store %s", rep.Path))
	if rep.Size > 0 || rep.PageSize > 0 {
		out = append(out, fmt.Sprintf("  file:     %d bytes, %d pages of %d bytes, %d free", rep.Size, rep.Pages, rep.PageSize, rep.FreePages))
	}
	if rep.SchemaVersion > 0 {
		out = append(out, fmt.Sprintf("  schema:   version %d (this shipbridge: %d)", rep.SchemaVersion, rep.Supported))
	}
	if rep.Orders > 0 || rep.Events > 0 {
		out = append(out, fmt.Sprintf("  contents: %d orders, %d history events", rep.Orders, rep.Events))
	}
	if rep.Blobs > 0 {
		out = append(out, fmt.Sprintf("  files:    %d kept for orders (waybills waiting to be written back), %d bytes", rep.Blobs, rep.BlobBytes))
	}
	for _, p := range rep.Problems {
		out = append(out, "  problem:  "+p)
	}
	switch {
	case err == nil:
		out = append(out, "OK: no damage found")
	case errors.Is(err, store.ErrDamaged):
		out = append(out, "DAMAGED: "+store.ErrDamaged.Error())
	case errors.Is(err, store.ErrNewerSchema):
		out = append(out, "NEWER: its pages are sound, but it was written by a newer shipbridge: upgrade shipbridge")
	default:
		out = append(out, "NOT CHECKED")
	}
	for _, l := range out {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}
