package store

import (
	"os"
	"path/filepath"
	"testing"
)

func TestBackupIsAUsableStore(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "live.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Save(OrderRecord{ID: "o1", Name: "00001", Phase: "registered"}, Event{Kind: "seen", Message: "hello"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCursor("c", "2026-11-27 10:00:00.000"); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "copy.db"), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Backup(f)
	if err != nil || n == 0 {
		t.Fatalf("backup: %d bytes, %v", n, err)
	}
	f.Close()
	// The live store keeps working while the copy opens on its own.
	if err := s.Save(OrderRecord{ID: "o2", Name: "00002"}); err != nil {
		t.Fatal(err)
	}
	c, err := Open(filepath.Join(dir, "copy.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rec, ok, err := c.OrderByName("00001")
	if err != nil || !ok || rec.Phase != "registered" {
		t.Errorf("copy: %+v %v %v", rec, ok, err)
	}
	if _, ok, _ := c.Order("o2"); ok {
		t.Error("copy has a record saved after the backup")
	}
	if v, ok, _ := c.Cursor("c"); !ok || v != "2026-11-27 10:00:00.000" {
		t.Errorf("cursor in copy: %q %v", v, ok)
	}
	if evs, _ := c.History("o1"); len(evs) != 1 || evs[0].Message != "hello" {
		t.Errorf("history in copy: %+v", evs)
	}
}
