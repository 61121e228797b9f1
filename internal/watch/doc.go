// Package watch turns file-system activity into debounced batches of
// changed paths, for pex watch. fsnotify is imported here and nowhere
// else in pex.
//
// # Pieces
//
// A Source reports raw events (Event: an absolute path and an Op) for
// the directories added to it. NewFS returns the real one: fsnotify,
// with a Poller for the directories fsnotify cannot watch. NewPoller
// returns a Source that only polls. Tests inject their own Source.
//
// A Watcher (New) reads a Source on one goroutine, drops Chmod-only
// events and those that Options.Ignore rejects, and sends a Batch — the
// changed paths, sorted and without duplicates — once the Source has
// been quiet for Options.Debounce (100 ms) or the batch's first event is
// Options.MaxWait (1 s) old. A batch is never empty. A slow receiver
// does not stall the Source: events that arrive while a batch waits are
// merged into it.
//
// # Using it
//
//	src, err := watch.NewFS(watch.FSOptions{OnWarning: printWarning})
//	if err != nil { ... }
//	w := watch.New(src, watch.Options{Ignore: isOutputOrState})
//	defer w.Close()
//	w.SetDirs(dirsOfInputs) // directories, not files
//	for b := range w.Batches() {
//		rebuild(b.Paths) // or everything, if b.Overflow
//		w.SetDirs(dirsOfInputs) // the inputs may have changed
//	}
//
// Call SetDirs after every build with the directories that hold the
// inputs, BUILD and .star files of the selected targets. It adds and
// removes only the difference, and adding a directory again re-arms a
// watch that was lost, so a new subdirectory (reported as a created
// path in its watched parent) or a directory deleted and recreated is
// watched from the next SetDirs on.
//
// # What is reported
//
//   - Directories are watched, never files, and never recursively: a
//     path is reported when an entry of a watched directory changes.
//   - A write reports the file (often several Write events, coalesced).
//   - An atomic save (write a temporary file, rename it over the target,
//     as vim, VS Code, JetBrains IDEs, sed -i and most tools do) reports
//     the target, because the rename shows up as Create on the target's
//     name; the temporary name is reported too, unless ignored (see
//     IsEditorTemp).
//   - A new or deleted file is reported; on Linux a delete also sends
//     Chmod first, which is dropped, and Remove only comes once the last
//     open descriptor is closed.
//   - touch on an existing file changes only its attributes: inotify
//     sends Chmod, which is dropped, so nothing is reported (the Poller
//     sees the new modification time and reports Write). The caller
//     compares contents through the cache either way, so a file that is
//     reported but unchanged costs a stat and a hash, not a build.
//   - A directory that is created, removed or renamed in a watched
//     directory is reported by its own path, and nothing is reported for
//     its entries: a caller must treat a reported path as covering
//     everything under it. Renaming a file out of the watched
//     directories reports only its old name; renaming one in, only its
//     new name.
//   - Batch.Overflow is set when events were lost (the inotify queue,
//     fs.inotify.max_queued_events, overflowed during a storm such as a
//     branch switch): rebuild everything the caller watches.
//
// # Limits and fallbacks
//
// Each watched directory costs one inotify watch. When the per-user
// limit (fs.inotify.max_user_watches; often 8192 or 65536) is reached,
// inotify_add_watch fails with ENOSPC ("no space left on device"). The
// FS source then calls FSOptions.OnWarning once with WatchLimitWarning,
// which names the sysctl to raise, and polls the directories it could
// not watch every FSOptions.PollInterval (500 ms) instead of failing.
// When no inotify instance can be had (fs.inotify.max_user_instances,
// EMFILE) it polls everything, with InstanceLimitWarning. A directory
// that does not exist yet is polled too, quietly, so that its creation
// is noticed. Network file systems and some container bind mounts
// deliver no inotify events at all: FSOptions.PollOnly is for them.
//
// # Testing
//
// The Watcher reads the time with the time package only, so tests run
// it in a testing/synctest bubble with a fake Source and control time
// exactly; there is no Clock option.
package watch
