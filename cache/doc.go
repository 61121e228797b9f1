// Package cache is pex's content-hashed cache: BLAKE3 digests (the one
// identity hash pex uses), the stat type and statter, the stat memo of one
// build, action keys, the content-addressed store with its action
// records, the workspace lock, the file clock, depfile parsing, and the
// helpers every pex file format shares (the checked varint codec, the
// CRC-32C table, the atomic write). It deals in paths, bytes and keys; it
// knows nothing of labels, graphs or Starlark. Callers pass names (labels,
// rule ids) as opaque strings. What builds remember between runs (stats,
// digests, each rule's last key and outputs) is the build database's,
// internal/db, which is written with these helpers.
//
// # Using it
//
// A builder, for each rule it must look at: computes the rule's key with
// a KeyBuilder from the digests the build's Memo gives for its sources
// and tools (seeded from the database) and the output digests of its
// dependencies; compares it with the key the database's row remembers
// (Diff of the two Parts says why it differs); looks the key up in the
// Store (Lookup, checking discovered inputs against the Memo) and
// restores outputs with RestoreOutput; or runs the action, stores the
// outputs with PutFile and a Record with PutRecord. A build that runs
// anything holds the workspace Lock.
//
// # Format version
//
// FormatVersion (now 3) is part of every key and record, and of the
// build database's header.
// Changing any format below means bumping it: old keys are then never
// looked up, old records and databases are ignored, and everything
// rebuilds once.
//
// # Digests
//
// A Digest is the 32-byte BLAKE3 hash (unkeyed, default 256-bit output)
// of a file's bytes, written as 64 lower-case hex digits.
//
// # Key framing
//
// A field is framed as one tag byte, the uvarint length of the data, then
// the data; a list of frames is therefore decodable, and distinct lists of
// fields never hash alike. Tags: 'v' version, 'c' command, 'e' env, 'i'
// inputs, 't' tools, 'd' deps, 's' shared, 'o' outputs, 'f' command field,
// 'n' name, 'h' digest.
//
// A key is computed in two levels. Each part has a digest:
//
//	command  BLAKE3(frame('f', field) ...)           one per Command call
//	env      items: name, BLAKE3(value); sorted by name
//	inputs   items: path, content digest; rule order
//	tools    items: path, content digest; rule order
//	deps     items: name, BLAKE3(frame('n', path) frame('h', digest) ...
//	         over the dependency's outputs); sorted by name
//	shared   items: key, BLAKE3(value); sorted by key
//	outputs  BLAKE3(frame('n', path) ...); rule order
//
// where the digest of a list of items is BLAKE3(frame('n', name)
// frame('h', digest) ...). The key is
//
//	BLAKE3(frame('v', uvarint(FormatVersion))
//	       frame('c', command) frame('e', env) frame('i', inputs)
//	       frame('t', tools) frame('d', deps) frame('s', shared)
//	       frame('o', outputs))
//
// so a key is a function of its Parts, which records and rows keep for
// explaining rebuilds.
//
// # Store layout
//
// The store (DefaultDir: $PEX_CACHE_DIR, else $XDG_CACHE_HOME/pex, else
// ~/.cache/pex) holds:
//
//	cas/ab/abcd...ef        blob whose digest is abcd...ef, mode 0444
//	ac/12/1234...ef         record of key 1234...ef, without discovered inputs
//	ac/12/1234...ef/5678... or: record of key 1234...ef, variant 5678...
//	tmp/                    temporary files being written
//
// A record whose action discovered no inputs (no depfile: most) is the
// file named by its key, one inode. Otherwise the key is a directory of
// variants, a variant being the digest (as items) of the record's
// discovered inputs, so one key holds one record per set of
// discovered-input digests, and storing the same set again replaces it.
// Should a key get both kinds, the single record becomes the variant of
// no inputs. PutFile hard-links an output into the store where the file
// system allows it, after making the output read-only (a blob and the
// output it came from are one inode, so an output must never be edited
// in place: pex replaces outputs, and a command that wants to write one
// finds it removed first); elsewhere it stores a copy made while hashing.
// Every file is written to tmp/ (blobs, records) or beside its
// destination (restored outputs) and renamed into place, so no reader
// sees a partial file. A file that changed while PutFile read it is not
// stored (ErrChanged). Blobs are verified when restored; a damaged blob
// or record is removed and reads as a miss. Files are not fsynced (a blob
// lost to a power cut is a miss). Symbolic links that are outputs are not
// blobs: their records hold their target text, and they are restored as
// links. Use refreshes an entry's mtime (at most once a minute), and GC
// removes entries by oldest mtime first, plus temporary files older than
// an hour.
//
// # Record encoding
//
// A record file (Record.MarshalBinary) is
//
//	"pexr" uvarint(FormatVersion) body crc32c(everything before)
//
// with the CRC-32C (Castagnoli) little-endian. A body is, with uvarint
// counts and lengths, zig-zag varints, and digests as 32 raw bytes:
//
//	varint created (Unix ns, 0 for none)
//	string status
//	count, then per output: string path, digest, uvarint fs.FileMode,
//	    and for a symbolic link (fs.ModeSymlink set) string target
//	count, then per finding: string
//	count, then per shared value: string key, string value
//	items discovered inputs
//	string generated (the Starlark a dynamic rule generated)
//	parts: digest command, items env, items inputs, items tools,
//	       items deps, items shared, count + strings outputs
//
// where items is a count then per item a string name and a digest. A
// record that is truncated, fails its checksum, has another version or
// does not decode to its last byte is a miss.
//
// # Stat memo
//
// The Memo maps a path to (size, mtime, inode, ctime, digest). A path
// whose current stat equals the memoised tuple gets the memoised digest
// without being read. A file is memoised only if its mtime and ctime are
// both earlier than RacyMargin (2 s) before the moment it was hashed, and
// it did not change (by fstat) while being hashed. Any later change to the
// file sets its ctime to the current time, which therefore differs from
// the memoised one even if size and mtime are put back. Files changed more
// recently are hashed each time they are asked for.
//
// # Workspace lock
//
// Lock takes flock(2) LOCK_EX on the lock file it is given (the
// workspace's .pex/lock), which holds the holder's pid for messages. The
// kernel releases it when the holder exits, even by kill -9.
//
// # File clock
//
// The workspace's .pex/clock is the marker a FileClock writes (one byte,
// twice) and stats to read the time as the file system stamps files; its
// contents mean nothing. The builder reads it when a build that runs
// rules starts (a file it read whose ctime is later changed during the
// build, and the database does not record the request as verified) and
// when a rule with a depfile starts (an input its depfile names for the
// first time must be older).
//
// The records of the process groups pex starts, .pex/procs/, belong to
// internal/procs, which documents them.
package cache
