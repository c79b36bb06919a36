package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/shipbridge/shipbridge/store"
)

const damagedMessage = "the store is damaged: restore a backup (see README)"

func TestStoreCheckSound(t *testing.T) {
	h := newHarness(t)
	h.seedStore()
	code, out, errOut := h.main(context.Background(), "store", "check")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	for _, want := range []string{"store " + h.env["SHIPBRIDGE_STORE_PATH"], "1 orders, 3 history events", "OK: no damage found"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

// damage rewrites the harness's store file with f.
func (h *harness) damage(f func([]byte) []byte) {
	h.t.Helper()
	path := h.env["SHIPBRIDGE_STORE_PATH"]
	data, err := os.ReadFile(path)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(path, f(data), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

func TestDamagedStoreFailsEveryCommand(t *testing.T) {
	const page = 4096
	for _, c := range []struct {
		name string
		f    func([]byte) []byte
	}{
		{"cut", func(b []byte) []byte { return b[:len(b)/2] }},
		{"cut-mid-page", func(b []byte) []byte { return b[:len(b)/2-100] }},
		{"overwritten", func(b []byte) []byte {
			for off := 2 * page; off+64 <= len(b); off += page {
				copy(b[off:], strings.Repeat("\xa5", 64))
			}
			return b
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.seedStore()
			h.damage(c.f)
			code, out, errOut := h.main(context.Background(), "store", "check")
			if code != ExitFailure || !strings.Contains(out, "DAMAGED") || !strings.Contains(out, "problem:") || !strings.Contains(errOut, damagedMessage) {
				t.Errorf("store check: exit %d\nstdout %s\nstderr %s", code, out, errOut)
			}
			code, _, errOut = h.main(context.Background(), "history", "00042")
			if code != ExitFailure || !strings.Contains(errOut, damagedMessage) || strings.Contains(errOut, "goroutine") {
				t.Errorf("history: exit %d, stderr %s", code, errOut)
			}
			h.valid()
			code, _, errOut = h.main(context.Background(), "once")
			if code != ExitFailure || !strings.Contains(errOut, damagedMessage) {
				t.Errorf("once: exit %d, stderr %s", code, errOut)
			}
		})
	}
}

func TestStoreCheckNewerSchema(t *testing.T) {
	h := newHarness(t)
	path := h.env["SHIPBRIDGE_STORE_PATH"]
	st, err := store.Open(path, store.Options{Migrations: append(store.DefaultMigrations(),
		store.Migration{Name: "future", Apply: func(*bolt.Tx) error { return nil }})})
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	before, _ := os.ReadFile(path)
	code, out, errOut := h.main(context.Background(), "store", "check")
	if code != ExitFailure || !strings.Contains(out, "newer shipbridge") || !strings.Contains(errOut, "upgrade shipbridge") {
		t.Errorf("store check: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	code, _, errOut = h.main(context.Background(), "history", "00042")
	if code != ExitFailure || !strings.Contains(errOut, "upgrade shipbridge") {
		t.Errorf("history: exit %d, stderr %s", code, errOut)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the newer store was written to")
	}
}

func TestStoreCheckMissing(t *testing.T) {
	h := newHarness(t)
	code, _, errOut := h.main(context.Background(), "store", "check")
	if code != ExitFailure || !strings.Contains(errOut, "no store at") {
		t.Errorf("missing file: exit %d, stderr %s", code, errOut)
	}
	h.env["SHIPBRIDGE_STORE_PATH"] = filepath.Join(h.dir, "typo", "shipbridge.db")
	code, _, errOut = h.main(context.Background(), "store", "check")
	if code != ExitFailure || !strings.Contains(errOut, "does not exist") {
		t.Errorf("missing directory: exit %d, stderr %s", code, errOut)
	}
	h.valid()
	code, _, errOut = h.main(context.Background(), "once")
	if code != ExitFailure || !strings.Contains(errOut, "does not exist") {
		t.Errorf("once with a missing directory: exit %d, stderr %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "typo")); err == nil {
		t.Error("the missing directory was created")
	}
}
