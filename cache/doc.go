// Package cache is pex's content-hashed cache: BLAKE3 digests, the stat
// memo, action keys, the content-addressed store with its action records,
// per-workspace state, the workspace lock and depfile parsing. It deals in
// paths, bytes and keys; it knows nothing of labels, graphs or Starlark.
// Callers pass names (labels, rule ids) as opaque strings.
//
// # Using it
//
// A builder, for each rule: computes the rule's key with a KeyBuilder from
// the digests the workspace's Memo gives for its sources and tools, and
// the output digests of its dependencies; compares it with the key that
// State remembers (Diff of the two Parts says why it differs); looks the
// key up in the Store (Lookup, checking discovered inputs against the
// Memo) and restores outputs with Restore; or runs the action, stores the
// outputs with PutFile and a Record with PutRecord, and sets the rule's
// State entry. At the end of the build it calls State.Flush. The whole
// build holds the workspace Lock.
//
// # Format version
//
// FormatVersion (now 2) is part of every key, record and state file.
// Changing any format below means bumping it: old keys are then never
// looked up, old records and state files are ignored, and everything
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
// so a key is a function of its Parts, which records and state keep for
// explaining rebuilds.
//
// # Store layout
//
// The store (DefaultDir: $PEX_CACHE_DIR, else $XDG_CACHE_HOME/pex, else
// ~/.cache/pex) holds:
//
//	cas/ab/abcd...ef        blob whose digest is abcd...ef: a file of its
//	                        own (a clone or a copy of the output), mode 0444
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
// no inputs. Readers accept both forms (stores written before single
// record files hold only directories). PutFile stores a clone of an output
// (a reflink: FICLONE on Linux, clonefile on macOS) where the file system
// can make one, and otherwise a copy made while hashing; a blob never
// shares an inode with a file in a workspace, so an output edited in
// place afterwards leaves its blob as it was. Every file is written to
// tmp/ (blobs, records) or beside its destination (restored outputs,
// state) and renamed into place, so no reader sees a partial file. A file
// that changed while PutFile copied it is not stored (ErrChanged). Blobs
// are verified when restored; a damaged blob or record is removed and
// reads as a miss. Files are not fsynced (a blob lost to a power cut is a
// miss). Symbolic links that are outputs are not blobs: their records
// hold their target text.
// Use refreshes an entry's mtime (at most once a minute), and GC removes
// entries by oldest mtime first, plus temporary files older than an hour.
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
//	parts: digest command, items env, items inputs, items tools,
//	       items deps, items shared, count + strings outputs
//
// where items is a count then per item a string name and a digest. A
// record that is truncated, fails its checksum, has another version or
// does not decode to its last byte is a miss.
//
// # State file
//
// <root>/.pex/state is an append-only log:
//
//	"pexstate" uint32le(FormatVersion)
//	frames: uint32le(len(payload)) uint32le(crc32c(payload)) payload
//
// A payload is a kind byte then fields:
//
//	'R' string rule id, digest key, record body   the rule's entry
//	'r' string rule id                            the rule is gone
//	'M' string path, varint size, varint mtime ns,
//	    uvarint inode, varint ctime ns, digest    a memo entry
//	'm' string path                               the memo entry is gone
//	'B' varint start ns, varint duration ns, uvarint hits, restored,
//	    remote, misses, failed, skipped           the last build's totals
//
// Later frames override earlier ones. LoadState reads the file in one read
// and applies frames up to the first one that is truncated, fails its
// checksum or does not decode; that one and all after it are ignored, and
// what they described rebuilds. Flush cuts such a tail off, appends the
// frames for what changed, and fsyncs. When the file is missing, foreign,
// replaced since it was loaded, or holds more than twice as many frames as
// live entries (plus 1024), Flush instead writes the whole state to a
// temporary file, fsyncs it, renames it over the old one and fsyncs the
// directory. A kill at any moment leaves at worst a damaged last frame.
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
// # Up-to-date proofs
//
// <root>/.pex/proof/<16 hex digits of BLAKE3(request)>, written by
// WriteProof (temporary file, rename; no fsync: a lost proof costs one
// full build) and checked by CheckProof without the workspace lock:
//
//	"pexu" uvarint(version) str(request) strs(variable names)
//	digest(BLAKE3 over name=value NUL, or name NUL when unset) str(payload)
//	str(rules section) crc32c(rules section)
//	uvarint(evaluation paths) uvarint(all paths)
//	per path, in path order within each of the two lists:
//	  str(path) kind [digest] varint size, mtime, ctime  uvarint inode
//	crc32c (little endian) of everything before it but the rules section,
//	which only a build patched from the proof reads and checks
//
// Kinds: 0 missing (nothing follows), 1 regular file, 2 other (a
// directory), 3 regular file too recent for its stat to vouch for it,
// then its digest, checked whenever the stat holds, 4 the same for a
// directory (the digest of its sorted names), 5 regular file and its
// contents' digest, which keeps the proof holding when only the stat
// changed. Evaluation paths come first; a change among them means the
// rules themselves may differ. The payload and the rules section are
// opaque here (internal/build: the rules to replay; each rule's
// definition, files by number and dependencies, to rebuild a few). A valid
// proof of which only rule files changed is handed to the build as a
// StaleProof, still mapped, to be patched and written again.
//
// The state can also be loaded in part (LoadStateFor): the file is mapped,
// every frame's checksum checked, and only the frames of the rules asked
// for (and the last build's) applied; a damaged or missing file refuses,
// and such a State is only ever appended to, never rewritten or compacted.
//
// # Workspace lock
//
// Lock takes flock(2) LOCK_EX on <root>/.pex/lock, which holds the
// holder's pid for messages. The kernel releases it when the holder
// exits, even by kill -9.
//
// # File clock
//
// <root>/.pex/clock is the marker a FileClock writes (one byte, twice)
// and stats to read the time as the file system stamps files; its
// contents mean nothing. The builder reads it when a build starts (a file
// it hashed whose ctime is later changed during the build, and the build
// leaves no proof or stamp) and when a rule with a depfile starts (an
// input its depfile names for the first time must be older).
//
// The records of the process groups pex starts, .pex/procs/, belong to
// internal/procs, which documents them.
package cache
