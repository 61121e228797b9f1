// Package db is pex's build database: everything a workspace's builds
// remember, in one file, .pex/db, the way n2 keeps one database and ninja
// its log. It holds
//
//   - the file table: every path a build looked at, with its stat and the
//     digest of its contents (of its listing, for a directory); this is
//     the stat memo, kept from one build to the next;
//   - the evaluation: the graph the BUILD files made, one record per rule
//     (its definition, and its files and dependencies by number), and the
//     node it was made from: the Starlark files read, the directories the
//     package walk and globs listed, and a digest of the --set values, the
//     host facts and the pex binary;
//   - a row per rule: the key it last ran or was restored under, what it
//     read (the digest of each source and tool, of each depfile input,
//     the generation of each dependency's row), its outputs, status,
//     findings and shared values;
//   - per request (a command, its directory and patterns): its root rules,
//     and, once a build of it ended with every rule up to date, what that
//     build stat'ed and replayed.
//
// Every build takes the same steps (see Check): stat the evaluation's
// inputs, and evaluate again only when one changed; find the request's
// rules; stat their files once, in parallel; mark dirty the rules whose
// files, definition, passed-through variables or dependencies' rows
// changed, and those that depend on them (for a request verified since
// nothing changed, only the rules reading or writing a changed file are
// looked at, found through the edges back the request keeps); replay
// when none is dirty, else schedule exactly the dirty ones. A row is checked against the file
// table, not against the build that wrote it, so a build of one request
// that changes a file makes every other request's readers of it dirty.
//
// # Format
//
// The file is a part written whole followed by records appended to it,
// the way ninja appends to its log. A build saves what it changed (file
// entries, rows, requests, the stats) as one record appended at the end;
// the file is written whole, to a temporary file renamed over the old
// one, after an evaluation, when it is not the file this process read
// (another pex wrote it), when its last record is torn, and when the
// records would outgrow a 32nd of it (each open reads them all). A record is framed by its length
// and the CRC-32C of its body: one cut short by a kill, or whose bytes a
// power cut lost, fails its checksum and is ignored with any after it,
// and the next save writes the file whole. Nothing is synced: what a
// lost record said is looked at again, since every file is checked
// against what the database holds. All integers are little-endian:
//
//	"pex db\n\x00"  magic (8 bytes)
//	u32 layout version, u32 cache.FormatVersion, u32 section count n
//	n × (u32 id, u32 crc32c of the section, u64 offset, u64 length)
//	u32 crc32c of all of the above
//	the sections
//	records: u32 length, u32 crc32c of the body, the body (varints):
//	            the stats section; the strings added; the file entries
//	            changed or added (number, 48-byte stat record as in
//	            section 2, then its 32-byte digest); the rows set
//	            (rule number, encoded row, empty if removed); the
//	            requests changed (as in section 8, or only their use and
//	            verified generation)
//
// The header and the sections every build reads are checked when the
// file is opened; the rule and row data and the digests (5, 7 and 10),
// which a no-op build never reads, when a build first reads them. Damage found then makes
// the build start again from an empty database.
//
// Sections, by id:
//
//	1 strings   bytes the others point into (paths, labels)
//	2 files     48-byte records: u32 path offset, u32 path length, u8 kind
//	            (cache.Kind), u8 flags (1: racy: the stat was too recent
//	            to vouch for the digest, which is checked by hashing),
//	            6 bytes zero, i64 size, i64 mtime, i64 ctime, u64 inode
//	3 eval      varints: digest of the header (--set values, host, pex),
//	            count, then per input: file number, role (1 Starlark file,
//	            2 directory the package walk listed, 3 directory a glob
//	            listed) and, for a glob's directory, the names left out of
//	            its listing (outputs of rules); then the packages, the
//	            groups (name, jobs, priority, position) and a flag (1:
//	            some rule is dynamic)
//	4 rules     16-byte records: u32 label offset, u32 label length,
//	            u32 record offset, u32 record length (in section 5)
//	5 ruledata  per rule, varints: flags, the encoded target, then five
//	            lists (count, numbers): inputs, tools, outputs (file
//	            numbers), dependencies, providers of required tokens (rule
//	            numbers)
//	6 rows      8-byte records per rule: u32 offset, u32 length (0: no
//	            row) in section 7
//	7 rowdata   per row, varints: key, generation, status, duration ms,
//	            outputs (digest, mode, link target), findings, shared
//	            values, read digests (one per input then tool), discovered
//	            inputs (file number, digest), dependency generations (one
//	            per dependency), digest of passed-through variables,
//	            the Starlark a dynamic rule generated
//	8 requests  varints: count, then per request: key, last use,
//	            verified generation (0: not verified), root rules,
//	            services named, then, when verified, the files to stat,
//	            the rules to replay and those passing variables through
//	            (numbers), a replay flag byte per rule (warn, test), and
//	            the edges back: per file, the rules reading or writing
//	            it; per rule, the rules needing it (positions)
//	9 stats     varints: write generation, row generation, the last
//	            build's totals
//	10 digests  32 bytes per file of section 2: the digest of what it
//	            held (contents; a directory's listing; a symbolic link's
//	            cache.LinkDigest)
//
// A file that is missing, foreign, of another version, or whose header,
// any section or a record that passed its checksum does not decode is
// ignored, with a note: everything is looked at again, and outputs are
// restored from the store.
package db
