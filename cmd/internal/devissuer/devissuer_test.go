package devissuer

import (
	"path/filepath"
	"testing"
)

// The dev stack's key, and so the tokens it minted, survive a restart:
// the second start loads the key the first one wrote; Open finds it with
// the recorded issuer.
func TestKeyAndInfoPersist(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadOrCreateKey(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateKey(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if first.ID != again.ID || first.ID == "" {
		t.Fatalf("key id %q, then %q", first.ID, again.ID)
	}
	if _, _, err := Open(dir); err == nil {
		t.Fatal("Open without the issuer's info succeeded")
	}
	if err := WriteInfo(dir, Info{Issuer: "http://127.0.0.1:9096", Audience: "cliente"}); err != nil {
		t.Fatal(err)
	}
	iss, info, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if iss.URL() != "http://127.0.0.1:9096" || info.Audience != "cliente" || iss.signer.ID != first.ID {
		t.Fatalf("opened %s (key %s), %+v", iss.URL(), iss.signer.ID, info)
	}
}
