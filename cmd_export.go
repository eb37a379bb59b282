package main

import (
	"github.com/spf13/cobra"

	"github.com/depot-backup/depot/director"
)

func exportCmd(g *globals) *cobra.Command {
	var o director.ExportOptions
	var list, identity string
	cmd := &cobra.Command{
		Use:   "export SET[@STAMP] -o FILE.tar.zst | export --list FILE",
		Short: "Write a snapshot as one tar.zst archive, optionally encrypted with age",
		Long: `Write a snapshot (the newest of SET, or SET@STAMP) as one archive: a tar stream
(PAX: modes, numeric owners, nanosecond mtimes, symlinks, hard links and
extended attributes, ACLs among them) compressed with zstd, in constant memory.
Every item lands in ITEM/ inside it; --item takes one, --path (repeatable)
only a file or subtree with its parent directories. -o - writes to stdout.
The file appears only when complete. A repository on another host is read
through GNU tar there, streamed over SSH and checked against the file lists.

--encrypt-to RECIPIENT (repeatable: an age public key age1..., an SSH public
key, or a file of them) or --passphrase-file FILE encrypts the archive with
age; age -d, or depot export --list with --identity or --passphrase-file,
reads it back. GNU tar unpacks a plain one:
  zstd -dc FILE.tar.zst | tar -xpf - --xattrs --xattrs-include='*' --numeric-owner

--list FILE reads a whole archive (decrypting and decompressing it, which
checks zstd's checksums), prints its entries and exits 1 on any damage.`,
		Example: "  depot export web -o web.tar.zst\n  depot export web@2026-11-21 --item site --path /var/www -o - | ssh host 'cat > www.tar.zst'\n  depot export web -o web.tar.zst.age --encrypt-to age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n  depot export --list web.tar.zst.age --identity key.txt",
		Args:    args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if list != "" {
				if len(a) > 0 || o.Output != "" || len(o.Recipients) > 0 {
					return &director.UsageError{Msg: "export --list FILE reads an archive: name no snapshot, -o or --encrypt-to"}
				}
				d, err := g.loadOptional()
				if err != nil {
					return err
				}
				defer d.Close()
				return d.ListArchive(list, identity, o.PassphraseFile)
			}
			if len(a) != 1 {
				return &director.UsageError{Msg: "export needs SET or SET@STAMP (or --list FILE)"}
			}
			if identity != "" {
				return &director.UsageError{Msg: "--identity goes with --list; encrypt with --encrypt-to"}
			}
			return g.with(func(d *director.Director) error {
				o.Target = a[0]
				return d.Export(cmd.Context(), o)
			})
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "the archive file to write (- for stdout)")
	cmd.Flags().StringVar(&o.Item, "item", "", "export only this item")
	cmd.Flags().StringArrayVar(&o.Paths, "path", nil, "export only this file or subtree (ITEM/PATH or the path on the source); repeatable")
	cmd.Flags().StringArrayVar(&o.Recipients, "encrypt-to", nil, "encrypt to this age or SSH public key, or the keys in this file; repeatable")
	cmd.Flags().StringVar(&o.PassphraseFile, "passphrase-file", "", "encrypt (or with --list decrypt) with the passphrase in this file")
	cmd.Flags().StringVar(&list, "list", "", "read this archive, list its entries and check it whole")
	cmd.Flags().StringVar(&identity, "identity", "", "with --list: decrypt with the age or SSH private key in this file")
	return cmd
}
