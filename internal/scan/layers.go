package scan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker-vault/docker-vault/internal/leak"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/storage"
)

// layers searches the files of the layers img adds over its first from
// layers (its base's) for every form of every value, with the leak
// check's search (internal/leak): one finding per value and file.
//
// The Engine API's image export (`docker save`) always streams every
// layer, base included: reading the 10 MB an image adds over a 1 GB base
// would transfer 1 GB. So where it can, it reads the added layers' files
// where the storage driver keeps them: with a local engine (a unix
// socket) and an overlay driver (overlay2, fuse-overlayfs), the image
// inspect's GraphDriver data names the top layer's directory (UpperDir)
// and the lower ones, top first (LowerDir). Those are trusted only when
// their number is the number of the image's layers and the engine's layer
// store says, for each layer read, that its directory is that layer's
// (layerdb/sha256/<chain id>/cache-id and diff). Otherwise (a remote
// engine, another driver, directories it may not read: rootless, another
// host) it falls back to the export stream, reading the base layers to
// their end without searching them where the archive names them by diff
// id, and keeping only what the added layers hold; a Note says which.
func (s *imageScan) layers(ctx context.Context, api ImageAPI, img image.InspectResponse, from int) error {
	diffIDs := img.RootFS.Layers
	if from >= len(diffIDs) {
		return nil
	}
	dirs, err := layerDirs(api.DaemonHost(), img.GraphDriver, diffIDs, from)
	if err == nil {
		search := leak.New(s.values.Matcher(), func(h leak.Hit) { s.layerFinding(h.Blob, h) })
		for i := from; i < len(diffIDs); i++ {
			if err := search.Dir(ctx, dirs[i], diffIDs[i]); err != nil {
				return fmt.Errorf("failed to read layer %s of image %s: %w", diffIDs[i], s.ref, err)
			}
		}
		s.res.Files += search.Files
		s.res.Bytes += search.Bytes
		s.res.Notes = append(s.res.Notes, fmt.Sprintf("image %s: the %s read from the %s storage driver's directories: %s", s.ref, howMany(len(diffIDs)-from, "added layer"), img.GraphDriver.Name, searched(search)))
		return nil
	}
	return s.export(ctx, api, img, from, err)
}

// export searches the layers from the image export stream.
func (s *imageScan) export(ctx context.Context, api ImageAPI, img image.InspectResponse, from int, why error) error {
	diffIDs := img.RootFS.Layers
	added := map[string]bool{}
	for _, d := range diffIDs[from:] {
		added[d] = true
	}
	base := map[string]bool{}
	for _, d := range diffIDs[:from] {
		if !added[d] {
			base[d] = true
		}
	}
	var hits []leak.Hit
	search := leak.New(s.values.Matcher(), func(h leak.Hit) { hits = append(hits, h) })
	rc, err := api.ImageSave(ctx, []string{img.ID})
	if err != nil {
		return fmt.Errorf("failed to export image %s: %w", s.ref, err)
	}
	defer rc.Close()
	// An OCI layout names an uncompressed layer by its digest, its diff
	// id: a base layer is then read, not searched. The legacy layout
	// names layers by v1 ids: every layer is searched, and what a base
	// layer holds is dropped below.
	a, err := search.Archive(rc, func(blob string) bool {
		hexID, ok := strings.CutPrefix(blob, "blobs/sha256/")
		return ok && base["sha256:"+hexID]
	})
	if err != nil {
		return fmt.Errorf("failed to read image %s: %w", s.ref, err)
	}
	// The layer each blob is: the highest index that is an added layer.
	layerOf := map[string]string{}
	for i, b := range a.ImageLayers {
		if i >= from && i < len(diffIDs) {
			layerOf[search.Mask(b)] = diffIDs[i]
		}
	}
	for _, h := range hits {
		// Hits in the config, the manifest and the legacy layer JSON:
		// the config and history were searched on their own.
		if d, ok := layerOf[h.Blob]; ok {
			s.layerFinding(d, h)
		}
	}
	s.res.Files += search.Files
	s.res.Bytes += search.Bytes
	s.res.Notes = append(s.res.Notes, fmt.Sprintf("image %s: the storage driver's directories are not read (%s): the %s searched in the image export, which streams every layer (%.1f MB read): %s",
		s.ref, oneLine(why), howMany(len(diffIDs)-from, "added layer"), float64(a.Read)/1e6, searched(search)))
	return nil
}

func (s *imageScan) layerFinding(layer string, h leak.Hit) {
	secret := s.values.names[h.Tag]
	s.add(Finding{Rule: RuleImageLayer, Layer: layer, Path: h.Path, Secret: secret, Encoding: h.Encoding,
		Message: "a file of the layer " + vaultMessage(secret, h.Encoding), Fix: fixImageLayer})
}

// searched says what a search read.
func searched(s *leak.Search) string {
	return fmt.Sprintf("%s, %.1f MB searched", howMany(s.Files, "file"), float64(s.Bytes)/1e6)
}

func howMany(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// errNotLocal: the layers cannot be read from the storage driver here.
var errNotLocal = errors.New("the layers cannot be read directly")

// layerDirs returns the directories of the image's layers (by index,
// bottom first; only those from from on are filled and checked), as the
// storage driver keeps them, or why they cannot be trusted or read.
func layerDirs(host string, gd *storage.DriverData, diffIDs []string, from int) ([]string, error) {
	if !strings.HasPrefix(host, "unix://") {
		return nil, fmt.Errorf("%w: the engine is not local (%s)", errNotLocal, host)
	}
	if gd == nil {
		return nil, fmt.Errorf("%w: the engine gives no storage driver data", errNotLocal)
	}
	switch gd.Name {
	case "overlay2", "overlay", "fuse-overlayfs":
	default:
		return nil, fmt.Errorf("%w: storage driver %s", errNotLocal, gd.Name)
	}
	upper := gd.Data["UpperDir"]
	if upper == "" {
		return nil, fmt.Errorf("%w: the engine names no layer directory", errNotLocal)
	}
	all := []string{upper}
	if lower := gd.Data["LowerDir"]; lower != "" {
		all = append(all, strings.Split(lower, ":")...)
	}
	if len(all) != len(diffIDs) {
		return nil, fmt.Errorf("%w: the engine names %d layer directories for %d layers", errNotLocal, len(all), len(diffIDs))
	}
	dirs := make([]string, len(diffIDs))
	chain := ""
	for i, d := range diffIDs {
		if i == 0 {
			chain = d
		} else {
			sum := sha256.Sum256([]byte(chain + " " + d))
			chain = "sha256:" + hex.EncodeToString(sum[:])
		}
		if i < from {
			continue
		}
		dir := all[len(all)-1-i] // top first
		if err := checkLayerDir(gd.Name, dir, d, chain); err != nil {
			return nil, fmt.Errorf("%w: layer %s: %w", errNotLocal, d, err)
		}
		dirs[i] = dir
	}
	return dirs, nil
}

// checkLayerDir checks, in the engine's layer store beside it, that dir
// (<root>/<driver>/<cache id>/diff) holds the layer of diff id and chain
// id, and that it can be read.
func checkLayerDir(driver, dir, diffID, chain string) error {
	if !filepath.IsAbs(dir) || filepath.Base(dir) != "diff" {
		return fmt.Errorf("unexpected directory %s", dir)
	}
	cacheID := filepath.Base(filepath.Dir(dir))
	root := filepath.Dir(filepath.Dir(filepath.Dir(dir)))
	db := filepath.Join(root, "image", driver, "layerdb", "sha256", strings.TrimPrefix(chain, "sha256:"))
	got, err := os.ReadFile(filepath.Join(db, "cache-id"))
	if err != nil {
		return err
	}
	gotDiff, err := os.ReadFile(filepath.Join(db, "diff"))
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(got)) != cacheID || strings.TrimSpace(string(gotDiff)) != diffID {
		return fmt.Errorf("the layer store does not give %s for it", dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
