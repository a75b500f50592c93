package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ipfs-cluster/ipfs-cluster/cmdutils"
	"github.com/ipfs-cluster/ipfs-cluster/state"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
)

// copyPrefix names the temporary copies of the source data.
const copyPrefix = "ipfs-cluster-migrate-"

// ErrSourceRunning is returned when the peer whose pinset would be
// migrated holds its folder's lock: it must be stopped first.
var ErrSourceRunning = errors.New("the source peer is running")

// sourceState is a read-only view of a stopped crdt or raft peer's
// pinset, opened on a copy of its data so that the source is never
// written: go-ds-crdt writes on open (format migrations, repair), and
// pebble, badger and leveldb write manifests, logs and lock files when
// they open a folder; raft's snapshot store creates a test file.
type sourceState struct {
	state.ReadOnly
	// Describe names the source: "crdt/pebble", "raft".
	Describe string
	// Data is the folder that was copied; Bytes its size.
	Data  string
	Bytes int64

	closer io.Closer
	tmp    string
}

// Close releases the copy's datastore and removes the copy.
func (s *sourceState) Close() error {
	var err error
	if s.closer != nil {
		err = s.closer.Close()
	}
	if rerr := os.RemoveAll(s.tmp); rerr != nil && err == nil {
		err = fmt.Errorf("removing the temporary copy %s: %w", s.tmp, rerr)
	}
	return err
}

// dataFolder returns the folder holding the pinset of a crdt or raft peer
// and points the configuration at where a copy of it will be.
func dataFolder(h *config.Helper, copyDir string) (src string, retarget func(), err error) {
	c := h.Configs()
	switch h.Consensus() {
	case config.Raft:
		// Only the snapshots: upstream's offline raft state is the last
		// snapshot (a peer stopped cleanly takes one).
		src = filepath.Join(c.Raft.GetDataFolder(), "snapshots")
		return src, func() { c.Raft.DataFolder = copyDir }, nil
	case config.Crdt:
		switch h.Datastore() {
		case "pebble":
			return c.Pebble.GetFolder(), func() { c.Pebble.Folder = copyDir }, nil
		case "badger3":
			return c.Badger3.GetFolder(), func() { c.Badger3.Folder = copyDir }, nil
		case "badger":
			return c.Badger.GetFolder(), func() { c.Badger.Folder = copyDir }, nil
		case "leveldb":
			return c.LevelDB.GetFolder(), func() { c.LevelDB.Folder = copyDir }, nil
		}
		return "", nil, fmt.Errorf("%w: unknown crdt datastore %q", config.ErrBadCombination, h.Datastore())
	}
	return "", nil, fmt.Errorf("%w: the source peer uses the %s consensus: state migrate reads crdt or raft peers", config.ErrBadCombination, h.Consensus())
}

// openSource copies the pinset data of the stopped peer of src into a
// temporary folder under workDir and opens it with upstream's state
// manager (cmdutils): its datastore, then the crdt or raft offline state.
func openSource(ctx context.Context, src *config.Helper, workDir string, meter MigrateProgress) (*sourceState, error) {
	folder := filepath.Dir(src.ConfigPath())
	if err := checkNotLocked(folder); err != nil {
		return nil, err
	}
	if stale, _ := filepath.Glob(filepath.Join(workDir, copyPrefix+"*")); len(stale) > 0 {
		logger.Warnf("%s holds copies left by interrupted migrations (killed before they could remove them): "+
			"remove them to free the space unless a migration is running: %s", workDir, strings.Join(stale, " "))
	}
	tmp, err := os.MkdirTemp(workDir, copyPrefix)
	if err != nil {
		return nil, fmt.Errorf("creating the temporary copy of the source (--work-dir %q): %w", workDir, err)
	}
	s := &sourceState{tmp: tmp, Describe: src.Consensus()}
	if src.Datastore() != "" {
		s.Describe += "/" + src.Datastore()
	}
	fail := func(err error) (*sourceState, error) {
		_ = s.Close()
		return nil, err
	}
	copyDir := filepath.Join(tmp, "data")
	if src.Consensus() == config.Raft {
		copyDir = filepath.Join(tmp, "raft")
	}
	from, retarget, err := dataFolder(src, copyDir)
	if err != nil {
		return fail(err)
	}
	s.Data = from
	if _, err := os.Stat(from); err != nil {
		return fail(fmt.Errorf("the %s peer of %s has no data at %s (was it ever started?): %w", s.Describe, folder, from, err))
	}
	size, err := treeSize(from)
	if err != nil {
		return fail(err)
	}
	s.Bytes = size
	if err := checkFreeSpace(tmp, size); err != nil {
		return fail(err)
	}
	dst := copyDir
	if src.Consensus() == config.Raft {
		dst = filepath.Join(copyDir, "snapshots")
	}
	logger.Infof("copying %s (%.1f MiB) to %s: the source is only read", from, float64(size)/(1<<20), tmp)
	meter.Phase("copy", size)
	err = copyTree(ctx, from, dst, meter)
	meter.Done()
	if err != nil {
		return fail(fmt.Errorf("copying the source data %s to %s: %w", from, tmp, err))
	}
	// The copy becomes the source: upstream's state manager opens it.
	retarget()
	mgr, err := cmdutils.NewStateManager(src.Consensus(), src.Datastore(), src.Identity(), src.Configs().Configs)
	if err != nil {
		return fail(err)
	}
	store, err := mgr.GetStore()
	if err != nil {
		return fail(fmt.Errorf("opening the copy of the %s datastore: %w", s.Describe, err))
	}
	if src.Consensus() == config.Crdt {
		// As upstream's offline crdt state, but closable: its background
		// workers stop before the datastore closes.
		c, err := openCrdtOn(store, src.Configs().Crdt)
		if err != nil {
			_ = store.Close()
			return fail(err)
		}
		s.closer = c
		s.ReadOnly, err = c.State(ctx)
	} else {
		s.closer = store
		s.ReadOnly, err = mgr.GetOfflineState(store)
	}
	if err != nil {
		return fail(fmt.Errorf("opening the %s state: %w", s.Describe, err))
	}
	return s, nil
}

// treeSize adds up the sizes of the regular files under root.
func treeSize(root string) (int64, error) {
	var n int64
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", root, err)
	}
	return n, nil
}

// copyTree copies the folder src to dst (which must not exist): folders,
// regular files and symbolic links, reading src only.
func copyTree(ctx context.Context, src, dst string, meter MigrateProgress) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			return copyFile(path, target, meter)
		}
		return nil // sockets, pipes: not part of a datastore
	})
}

func copyFile(src, dst string, meter MigrateProgress) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, &meteredReader{r: in, meter: meter}); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

type meteredReader struct {
	r     io.Reader
	meter MigrateProgress
}

func (m *meteredReader) Read(b []byte) (int, error) {
	n, err := m.r.Read(b)
	m.meter.Add(int64(n))
	return n, err
}
